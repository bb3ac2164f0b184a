/* The editors' page: content gaps (GET /api/content/gaps), agents' drafts, preview and publish.
 * Every text from the server goes in as textContent; the answer preview uses the widget's renderer. */
(function () {
  "use strict";
  var MARKDOWN = /*MARKDOWN*/ null;
  var L = window.LedgerlyPageLang("content"); // pagelang.js: the console's strings and language
  var t = L.t;
  var S = { cluster: null, draft: null, lang: "en", current: null };
  var OTHER = { en: "zh", zh: "en" };

  function $(id) {
    return document.getElementById(id);
  }

  function el(tag, text, cls) {
    var e = document.createElement(tag);
    if (text != null) e.textContent = text;
    if (cls) e.className = cls;
    return e;
  }

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      credentials: "same-origin",
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
    }).then(function (r) {
      if (r.status === 401) {
        location.href = "/console";
        throw new Error("signed out");
      }
      return r.json().then(
        function (data) {
          if (!r.ok) {
            var err = new Error((data.error && data.error.message) || "HTTP " + r.status);
            err.status = r.status;
            throw err;
          }
          return data;
        },
        function () {
          throw new Error("HTTP " + r.status);
        }
      );
    });
  }

  function fail(e) {
    $("error").hidden = false;
    $("error").textContent = e.status === 403 ? t("forEditors") : t("loadFailed", { error: e.message });
  }

  function when(iso) {
    return iso ? iso.slice(0, 16).replace("T", " ") : "";
  }

  function decision(d) {
    if (!d) return "–";
    if (d.kind === "answer") return t("answersFrom", { id: d.entry_id });
    return d.kind === "clarify" ? t("asksWhich") : t("handsOff");
  }

  function lines(text) {
    return text
      .split("\n")
      .map(function (s) {
        return s.trim();
      })
      .filter(Boolean);
  }

  // ------------------------------------------------------------------------------- the lists

  function loadClusters() {
    $("error").hidden = true;
    api("GET", "/api/content/gaps?days=" + $("days").value).then(function (res) {
      $("summary").textContent = t("summary", { questions: res.questions, groups: res.clusters.length, model: res.model, threshold: res.threshold });
      var ul = $("clusters");
      ul.textContent = "";
      res.clusters.forEach(function (c) {
        var b = el("button");
        b.type = "button";
        b.setAttribute("data-cluster", c.key);
        b.setAttribute("aria-current", S.cluster === c.key ? "true" : "false");
        b.appendChild(el("div", c.title));
        var facts = el("div", null, "muted");
        facts.appendChild(el("span", c.size === 1 ? t("oneQuestion") : t("nQuestions", { n: c.size }), "pill"));
        facts.appendChild(el("span", t("answeredToday", { covered: c.covered_now, size: c.size }), c.covered_now >= c.size ? "pill ok" : "pill"));
        Object.keys(c.langs).forEach(function (l) {
          facts.appendChild(el("span", l, "pill"));
        });
        b.appendChild(facts);
        b.addEventListener("click", function () {
          openCluster(c.key);
        });
        ul.appendChild(el("li")).appendChild(b);
      });
      if (!res.clusters.length) ul.appendChild(el("li", t("nothingUnanswered"), "muted"));
    }, fail);
    api("GET", "/api/content/drafts").then(function (drafts) {
      var ul = $("drafts");
      ul.textContent = "";
      drafts.forEach(function (d) {
        var b = el("button");
        b.type = "button";
        b.setAttribute("data-draft", String(d.id));
        b.appendChild(el("div", d.title));
        b.appendChild(el("div", t("draftBy", { author: d.created_by, when: when(d.created_at), lang: d.lang }), "muted"));
        b.addEventListener("click", function () {
          openDraft(d);
        });
        ul.appendChild(el("li")).appendChild(b);
      });
      if (!drafts.length) ul.appendChild(el("li", t("noDrafts"), "muted"));
    }, fail);
    api("GET", "/api/content/publications").then(function (pubs) {
      var ul = $("publications");
      ul.textContent = "";
      pubs.forEach(function (p) {
        var text = p.entry_id + " · " + p.published_by + " · " + when(p.published_at);
        if (p.questions) text += " · " + t("pubCoverage", { before: p.covered_before, after: p.covered_after, n: p.questions });
        if (p.missing_lang) text += " · " + t("pubMissing", { lang: p.missing_lang });
        ul.appendChild(el("li", text));
      });
      if (!pubs.length) ul.appendChild(el("li", t("nothingYet")));
    }, fail);
  }

  // ------------------------------------------------------------------------------- one item

  function fill(entry) {
    $("f-id").value = entry.id || "";
    $("f-lang").value = entry.lang || "en";
    $("f-title").value = entry.title || "";
    $("f-questions").value = (entry.questions || []).join("\n");
    $("f-answer").value = entry.answer || "";
    $("f-tags").value = (entry.tags || []).join(", ");
    $("add-second").checked = false;
    $("t-second").hidden = true;
    $("s-title").value = "";
    $("s-questions").value = "";
    $("s-answer").value = "";
    syncLang();
    renderAnswer();
    $("result").hidden = true;
    $("preview-card").hidden = true;
    $("editor").hidden = false;
    $("empty").hidden = true;
  }

  function openCluster(key) {
    S.cluster = key;
    S.draft = null;
    Array.prototype.forEach.call(document.querySelectorAll("[data-cluster]"), function (b) {
      b.setAttribute("aria-current", b.getAttribute("data-cluster") === key ? "true" : "false");
    });
    api("GET", "/api/content/gaps/" + encodeURIComponent(key) + "?days=" + $("days").value).then(function (c) {
      $("cluster").hidden = false;
      $("cluster-title").textContent = c.title;
      var reasons = Object.keys(c.reasons)
        .map(function (r) {
          return L.reason(r) + " " + c.reasons[r];
        })
        .join(", ");
      $("cluster-facts").textContent = t("clusterFacts", {
        size: c.size, reasons: reasons, first: when(c.first_seen), last: when(c.last_seen), covered: c.covered_now,
      });
      var body = $("questions").tBodies[0];
      body.textContent = "";
      c.questions.forEach(function (q) {
        var tr = el("tr");
        tr.appendChild(el("td", q.text));
        tr.appendChild(el("td", q.lang));
        tr.appendChild(el("td", L.reason(q.reason)));
        tr.appendChild(el("td", when(q.created_at)));
        tr.appendChild(el("td", decision(q.now), q.covered ? "change-yes" : ""));
        body.appendChild(tr);
      });
      var ul = $("resolutions");
      ul.textContent = "";
      c.resolutions.forEach(function (r) {
        ul.appendChild(el("li", r));
      });
      if (!c.resolutions.length) ul.appendChild(el("li", t("noResolution")));
      $("editor-title").textContent = t("draftForGroup");
      $("save-draft").hidden = true;
      $("dismiss-draft").hidden = true;
      fill(c.draft);
    }, fail);
  }

  function openDraft(d) {
    S.draft = d.id;
    S.cluster = null;
    $("cluster").hidden = true;
    $("editor-title").textContent = t("draftFrom", { id: d.id, author: d.created_by });
    $("save-draft").hidden = false;
    $("dismiss-draft").hidden = false;
    fill({ id: d.entry_id || "", lang: d.lang, title: d.title, questions: d.questions, answer: d.answer, tags: [] });
  }

  function syncLang() {
    S.lang = $("f-lang").value;
    $("s-lang").value = OTHER[S.lang];
  }

  function renderAnswer() {
    $("f-answer-preview").innerHTML = MARKDOWN.render($("f-answer").value); // sanitised (markdown.js)
  }

  function proposal() {
    var id = $("f-id").value.trim();
    var tags = $("f-tags")
      .value.split(",")
      .map(function (t) {
        return t.trim();
      })
      .filter(Boolean);
    var main = { id: id, lang: S.lang, title: $("f-title").value, questions: lines($("f-questions").value), answer: $("f-answer").value, tags: tags };
    var translations = [main];
    if ($("add-second").checked) {
      translations.push({
        id: id,
        lang: OTHER[S.lang],
        title: $("s-title").value,
        questions: lines($("s-questions").value),
        answer: $("s-answer").value,
        tags: tags,
      });
    }
    var out = { translations: translations };
    if (S.cluster) out.cluster_key = S.cluster;
    if (S.draft) out.draft_id = S.draft;
    return out;
  }

  function say(text, kind) {
    var r = $("result");
    r.hidden = false;
    r.className = "status" + (kind ? " " + kind : "");
    r.textContent = text;
  }

  function busy(on) {
    ["preview", "publish", "save-draft", "dismiss-draft"].forEach(function (id) {
      $(id).disabled = on;
    });
  }

  function showPreview(p) {
    var parts = [];
    if (p.cluster) {
      parts.push(t("previewCluster", {
        before: p.cluster.covered_before, after: p.cluster.covered_after, n: p.cluster.questions, fromNew: p.cluster.answered_from_new,
      }));
    }
    var r = p.recent;
    parts.push(t("previewRecent", {
      n: r.questions, days: r.days, newly: r.newly_answered, taken: r.taken_from_others, lost: r.no_longer_answered,
    }));
    if (p.missing_lang) parts.push(t("previewMissing", { lang: p.missing_lang }));
    $("preview-summary").textContent = parts.join(" ");
    var body = $("preview-rows").tBodies[0];
    body.textContent = "";
    var rows = (p.cluster ? p.cluster.rows : []).concat(r.changed);
    rows.forEach(function (row) {
      var tr = el("tr");
      tr.appendChild(el("td", row.text));
      tr.appendChild(el("td", decision(row.before)));
      var changed = row.before.entry_id !== row.after.entry_id || row.before.kind !== row.after.kind;
      var good = row.after.entry_id === p.entry_id;
      tr.appendChild(el("td", decision(row.after), changed ? (good ? "change-yes" : "change-no") : ""));
      body.appendChild(tr);
    });
    $("preview-card").hidden = false;
  }

  $("preview").addEventListener("click", function () {
    busy(true);
    say(t("building"));
    api("POST", "/api/content/preview", proposal())
      .then(function (p) {
        say(t("previewReady"), "ok");
        showPreview(p);
      }, function (e) {
        say(e.message, "bad");
      })
      .then(function () {
        busy(false);
      });
  });

  $("publish").addEventListener("click", function () {
    busy(true);
    say(t("publishing"));
    api("POST", "/api/content/publish", proposal())
      .then(function (pub) {
        var text = t("published", { files: pub.files.join(t("and")) });
        if (pub.questions) text += t("publishedCoverage", { before: pub.covered_before, after: pub.covered_after, n: pub.questions });
        if (pub.missing_lang) text += t("publishedMissing", { lang: pub.missing_lang });
        say(text, "ok");
        loadClusters();
      }, function (e) {
        say(e.message, "bad");
      })
      .then(function () {
        busy(false);
      });
  });

  $("save-draft").addEventListener("click", function () {
    var p = proposal().translations[0];
    api("PUT", "/api/content/drafts/" + S.draft, { entry_id: p.id || null, lang: p.lang, title: p.title, questions: p.questions, answer: p.answer }).then(
      function () {
        say(t("draftSaved"), "ok");
        loadClusters();
      },
      function (e) {
        say(e.message, "bad");
      }
    );
  });

  $("dismiss-draft").addEventListener("click", function () {
    api("POST", "/api/content/drafts/" + S.draft + "/dismiss").then(
      function () {
        say(t("draftDismissed"), "ok");
        $("editor").hidden = true;
        $("empty").hidden = false;
        loadClusters();
      },
      function (e) {
        say(e.message, "bad");
      }
    );
  });

  $("add-second").addEventListener("change", function () {
    $("t-second").hidden = !$("add-second").checked;
  });
  $("f-lang").addEventListener("change", syncLang);
  $("f-answer").addEventListener("input", renderAnswer);
  $("days").addEventListener("change", loadClusters);
  $("reload").addEventListener("click", loadClusters);
  $("lang-switch").addEventListener("change", function () {
    L.set($("lang-switch").value);
    loadClusters(); // an open draft keeps the editor's changes; its labels follow at once
  });
  L.apply();
  loadClusters();
})();
