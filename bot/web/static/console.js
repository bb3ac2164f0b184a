/*
 * Ledgerly Helpdesk agent console. Plain JavaScript, no build step; the server fills in its strings
 * and its markdown renderer.
 *
 * Sign in (HttpOnly cookie), then a live inbox of handoffs (SSE /api/agent/events) and one open
 * conversation (SSE /api/conversations/{id}/events). Every text that comes from a customer, an agent
 * or the knowledge base is put into the page with textContent: nothing is parsed as HTML; bot
 * answers go through the widget's markdown renderer (markdown-it, raw HTML off, then DOMPurify).
 *
 * In English and Chinese: every label comes from strings.json (the widget's table too), chosen by
 * the switch in the header, remembered in localStorage, first from the browser's language.
 */
(function () {
  "use strict";

  // reply kinds, handoff statuses and reasons: filled in by the server from the Python enums
  var VOCAB = /*VOCABULARY*/ null;
  var ST = VOCAB.handoffStatus;
  var CONV = VOCAB.conversationStatus;
  var KIND = VOCAB.replyKind;
  var MAIL = VOCAB.mailStatus;
  var INC = VOCAB.incidentStatus;

  // every UI string in both languages, the widget's table too (strings.json), filled in by the server
  var TABLE = /*STRINGS*/ null;
  // bot answers: the widget's renderer (markdown-it with raw HTML off, then DOMPurify)
  var MARKDOWN = /*MARKDOWN*/ null;

  // each handoff reason has a label and an explanation of its own (never "low confidence" for another):
  // [label, explanation] in the table's "reason" section, under the reason's own name
  var REASONS = {
    customer_request: ["customer_request"],
    low_confidence: ["low_confidence"],
    missing_knowledge: ["missing_knowledge"],
    clarify_rejected: ["clarify_rejected"],
    wrong_answer: ["wrong_answer"],
    prompt_injection: ["prompt_injection"],
    other_customer_data: ["other_customer_data"],
    bank_details_change: ["bank_details_change"],
  };
  var LANGS = { en: "English", zh: "中文" }; // each language by its own name, in either UI language
  var LANG_KEY = "ledgerly-console:lang";

  var S = {
    lang: initialLang(),
    me: null,
    filter: { status: "active", lang: "" },
    handoffs: [],
    known: null, // ids of active handoffs seen so far (to flash new ones)
    selectedId: null,
    detail: null,
    seen: {}, // message ids shown in the open transcript
    lastMsgId: 0,
    faq: null,
    queueES: null,
    convES: null,
    tick: null,
    loadSeq: 0,
  };

  var $ = function (id) {
    return document.getElementById(id);
  };

  // ------------------------------------------------------------------------------- language

  function pickLang(value) {
    var v = String(value || "").toLowerCase();
    return v.indexOf("zh") === 0 ? "zh" : v.indexOf("en") === 0 ? "en" : null;
  }

  function initialLang() {
    var stored = null;
    try {
      stored = pickLang(window.localStorage.getItem(LANG_KEY));
    } catch (e) {
      /* storage blocked: follow the browser */
    }
    var list = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]) || [];
    return stored || (pickLang(list[0]) === "zh" ? "zh" : "en");
  }

  /** The console string ``key`` in the chosen language, ``{name}`` filled in from ``vars``. */
  function t(key, vars) {
    var table = (TABLE[S.lang] || TABLE.en).console;
    var s = table[key] != null ? table[key] : TABLE.en.console[key];
    if (s == null) return key;
    return s.replace(/\{(\w+)\}/g, function (m, k) {
      return vars && vars[k] != null ? String(vars[k]) : m;
    });
  }

  /** [label, explanation] of a handoff reason; an unknown one shows its own name. */
  function reasonText(reason) {
    var key = REASONS[reason] ? REASONS[reason][0] : null;
    var table = (TABLE[S.lang] || TABLE.en).reason;
    return (key && (table[key] || TABLE.en.reason[key])) || [reason, ""];
  }

  function locale() {
    return S.lang === "zh" ? "zh-CN" : [];
  }

  /** The page's fixed labels: data-i18n (text), data-i18n-placeholder, -aria-label, -title (console.html). */
  function applyStatic() {
    document.documentElement.lang = S.lang === "zh" ? "zh-CN" : "en";
    ["", "placeholder", "aria-label", "title"].forEach(function (attr) {
      var name = "data-i18n" + (attr ? "-" + attr : "");
      var nodes = document.querySelectorAll("[" + name + "]");
      for (var i = 0; i < nodes.length; i++) {
        var text = t(nodes[i].getAttribute(name));
        if (attr) nodes[i].setAttribute(attr, text);
        else nodes[i].textContent = text;
      }
    });
    var live = $("live");
    if (live && !/\b(on|off)\b/.test(live.className)) live.textContent = t("connecting");
    var switches = document.querySelectorAll("select[data-lang-switch]");
    for (var j = 0; j < switches.length; j++) switches[j].value = S.lang;
  }

  /** Switch the console's language: the page's labels, the queue and the open conversation follow. */
  function setLang(lang) {
    lang = pickLang(lang) || "en";
    try {
      window.localStorage.setItem(LANG_KEY, lang);
    } catch (e) {
      /* not remembered: still switched for this page */
    }
    if (lang === S.lang) return;
    S.lang = lang;
    applyStatic();
    if (!S.me) {
      document.title = t("titleSignin");
      return;
    }
    setTitle();
    if (S.queueES) setLive(S.queueES.readyState === 1);
    renderQueue();
    if (S.detail) {
      // drawn again from the server, with what the agent was typing kept
      var reply = $("reply-text") ? $("reply-text").value : "";
      var note = $("note-text") ? $("note-text").value : "";
      var open = S.detail.id;
      var dialog = $("resolve-dialog");
      if (dialog) dialog.remove();
      var again = selectHandoff(open);
      if (again) again.then(function () {
        if (S.selectedId !== open) return;
        if (reply && $("reply-text") && !$("reply-text").disabled) $("reply-text").value = reply;
        if (note && $("note-text")) $("note-text").value = note;
      });
    }
  }

  Array.prototype.forEach.call(document.querySelectorAll("select[data-lang-switch]"), function (sel) {
    sel.addEventListener("change", function () {
      setLang(sel.value);
    });
  });
  applyStatic();

  // ------------------------------------------------------------------------------- helpers

  /** h("div", {class: "x", onclick: f}, "text", child): strings become text nodes, never HTML. */
  function h(tag, attrs) {
    var e = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        var v = attrs[k];
        if (v == null || v === false) return;
        if (k === "class") e.className = v;
        else if (k === "text") e.textContent = v;
        else if (k.slice(0, 2) === "on" && typeof v === "function") e.addEventListener(k.slice(2), v);
        else if (k in e && typeof v !== "string") e[k] = v;
        else e.setAttribute(k, v === true ? "" : String(v));
      });
    }
    for (var i = 2; i < arguments.length; i++) append(e, arguments[i]);
    return e;
  }

  function append(parent, child) {
    if (child == null || child === false) return;
    if (Array.isArray(child)) child.forEach(function (c) {
      append(parent, c);
    });
    else parent.appendChild(child instanceof Node ? child : document.createTextNode(String(child)));
  }

  function clear(node) {
    while (node.firstChild) node.removeChild(node.firstChild);
  }

  function initial(name) {
    var n = String(name || "?").trim();
    return n ? Array.from(n)[0].toUpperCase() : "?";
  }

  function since(iso, now) {
    var at = Date.parse(iso);
    if (isNaN(at)) return "";
    var min = Math.max(0, Math.floor(((now || Date.now()) - at) / 60000));
    if (min < 1) return t("lessThanMinute");
    if (min < 60) return t("minutes", { m: min });
    var hours = Math.floor(min / 60);
    if (hours < 24) return t("hoursMinutes", { h: hours, m: min % 60 });
    return t("daysHours", { d: Math.floor(hours / 24), h: hours % 24 });
  }

  function clock(iso) {
    var d = new Date(iso);
    if (isNaN(d.getTime())) return "";
    var today = new Date().toDateString() === d.toDateString();
    var hm = d.toLocaleTimeString(locale(), { hour: "2-digit", minute: "2-digit" });
    return today ? hm : d.toLocaleDateString(locale(), { month: "short", day: "numeric" }) + " " + hm;
  }

  function num(v, digits) {
    return typeof v === "number" && isFinite(v) ? v.toFixed(digits == null ? 2 : digits) : "–";
  }

  function pct(p) {
    if (typeof p !== "number" || !isFinite(p)) return "–";
    if (p > 0 && p < 0.01) return "<1%";
    if (p < 1 && p > 0.99) return ">99%";
    return Math.round(p * 100) + "%";
  }

  function toast(text, bad) {
    var old = document.querySelector(".toast");
    if (old) old.remove();
    var note = h("div", { class: "toast" + (bad ? " bad" : ""), role: "status", text: text });
    document.body.appendChild(note);
    setTimeout(function () {
      note.remove();
    }, 4000);
  }

  function api(method, path, body) {
    return fetch(path, {
      method: method,
      headers: body ? { "Content-Type": "application/json" } : {},
      body: body ? JSON.stringify(body) : undefined,
      credentials: "same-origin",
    }).then(
      function (r) {
        return r
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            if (!r.ok) {
              var e = (data && data.error) || {};
              var err = new Error(e.message || t("requestFailed", { status: r.status }));
              err.status = r.status;
              err.code = e.code;
              if (r.status === 401 && path !== "/api/console/login" && path !== "/api/console/me") signedOut(true);
              throw err;
            }
            return data;
          });
      },
      function () {
        var err = new Error(t("unreachable"));
        err.status = 0;
        throw err;
      }
    );
  }

  // --------------------------------------------------------------------------------- sign in

  function showSignin(message) {
    $("app").hidden = true;
    $("signin").hidden = false;
    var err = $("signin-error");
    err.hidden = !message;
    err.textContent = message || "";
    document.title = t("titleSignin");
    setTimeout(function () {
      ($("username").value ? $("password") : $("username")).focus();
    }, 0);
  }

  function signedOut(expired) {
    stopStreams();
    S.me = null;
    showSignin(expired ? t("sessionEnded") : "");
  }

  $("signin-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var username = $("username").value.trim();
    var password = $("password").value;
    if (!username || !password) {
      showSignin(t("enterCredentials"));
      return;
    }
    var button = $("signin-button");
    button.disabled = true;
    api("POST", "/api/console/login", { username: username, password: password }).then(
      function (res) {
        button.disabled = false;
        $("password").value = "";
        startApp(res.username, res.role);
      },
      function (err) {
        button.disabled = false;
        showSignin(err.status === 401 ? t("wrongCredentials") : err.message);
      }
    );
  });

  $("signout").addEventListener("click", function () {
    api("POST", "/api/console/logout").then(
      function () {
        signedOut(false);
      },
      function () {
        signedOut(false);
      }
    );
  });

  // ------------------------------------------------------------------------------------ app

  function startApp(username, role) {
    S.me = username;
    $("content-link").hidden = role !== "editor" && role !== "admin"; // the editors' page
    loadAgents();
    loadCanned();
    $("signin").hidden = true;
    $("app").hidden = false;
    $("me-name").textContent = username;
    $("me-avatar").textContent = initial(username);
    S.known = null;
    connectQueue(); // its "ready" event loads the queue
    loadIncidents();
    clearInterval(S.tick);
    S.tick = setInterval(function () {
      renderQueue();
      renderWaiting();
    }, 30000);
    if (S.selectedId) selectHandoff(S.selectedId);
  }

  function stopStreams() {
    if (S.queueES) S.queueES.close();
    if (S.convES) S.convES.close();
    S.queueES = S.convES = null;
    clearInterval(S.tick);
  }

  function setLive(on) {
    var l = $("live");
    l.className = "live " + (on ? "on" : "off");
    l.textContent = on ? t("live") : t("reconnecting");
  }

  // ---------------------------------------------------------------------------------- queue

  function queueUrl() {
    var q = "status=" + encodeURIComponent(S.filter.status);
    if (S.filter.lang) q += "&lang=" + encodeURIComponent(S.filter.lang);
    return "/api/agent/handoffs?" + q;
  }

  function loadQueue() {
    var seq = ++S.loadSeq;
    S.during = {}; // changes the stream delivers while the page is read: applied on top of it
    return api("GET", queueUrl() + "&limit=500").then(
      function (list) {
        if (seq !== S.loadSeq) return;
        var during = S.during || {};
        S.during = null;
        S.handoffs = list;
        if (S.filter.status === "active" && !S.filter.lang) {
          S.known = {};
          list.forEach(function (hd) {
            S.known[hd.id] = true;
          });
          setTitle();
        }
        renderQueue();
        Object.keys(during).forEach(function (id) {
          onHandoff(during[id]);
        });
      },
      function (err) {
        if (err.status !== 401) toast(err.message, true);
      }
    );
  }

  // ---- notifications: a short tone, and a desktop notification when the agent allowed them
  function notify(hd) {
    S.notified = (S.notified || 0) + 1;
    try {
      var Ctx = window.AudioContext || window.webkitAudioContext;
      if (Ctx && S.sound !== false) {
        var ctx = S.audio || (S.audio = new Ctx());
        var osc = ctx.createOscillator();
        var gain = ctx.createGain();
        osc.frequency.value = 880;
        gain.gain.value = 0.05;
        osc.connect(gain);
        gain.connect(ctx.destination);
        osc.start();
        osc.stop(ctx.currentTime + 0.15);
      }
    } catch (e) {
      /* no audio: the title and the queue still show it */
    }
    if (window.Notification && Notification.permission === "granted" && document.hidden) {
      new Notification(t("notifyNew", { id: hd.id }), { body: hd.question || t("notifyBody"), tag: "handoff-" + hd.id });
    }
  }

  // ---- keyboard: j/k move in the queue, c claims, r writes a reply, / searches, n adds a note
  document.addEventListener("keydown", function (e) {
    var target = e.target;
    if (e.ctrlKey || e.metaKey || e.altKey || !S.me) return;
    if (target && (target.tagName === "INPUT" || target.tagName === "TEXTAREA" || target.tagName === "SELECT")) return;
    var items = S.handoffs || [];
    var at = items.findIndex(function (x) {
      return x.id === S.selectedId;
    });
    if (e.key === "j" || e.key === "k") {
      var next = items[Math.max(0, Math.min(items.length - 1, at + (e.key === "j" ? 1 : -1)))];
      if (next) selectHandoff(next.id);
    } else if (e.key === "c" && $("claim")) {
      claim();
    } else if (e.key === "r" && $("reply-text")) {
      $("reply-text").focus();
    } else if (e.key === "n" && $("note-text")) {
      $("note-text").focus();
    } else if (e.key === "/") {
      $("search-q").focus();
    } else {
      return;
    }
    e.preventDefault();
  });

  $("notify-enable").addEventListener("click", function () {
    if (!window.Notification) return toast(t("noNotifications"), true);
    Notification.requestPermission().then(function (p) {
      toast(p === "granted" ? t("notificationsOn") : t("notificationsDenied"), p !== "granted");
      $("notify-enable").hidden = p === "granted";
    });
  });

  function setTitle() {
    var n = S.known ? Object.keys(S.known).length : 0;
    document.title = (n ? "(" + n + ") " : "") + t("titleInbox");
  }

  function matchesFilter(hd) {
    var f = S.filter;
    if (f.lang && hd.lang !== f.lang) return false;
    if (f.status === "active") return hd.status !== ST.RESOLVED;
    return hd.status === f.status;
  }

  function connectQueue() {
    if (S.queueES) S.queueES.close();
    var es = new EventSource("/api/agent/events");
    S.queueES = es;
    es.addEventListener("open", function () {
      setLive(true);
    });
    es.addEventListener("ready", function () {
      // the stream listens now: read the queue once, then apply each change as it comes
      setLive(true);
      loadQueue();
    });
    es.addEventListener("handoff", function (e) {
      var hd;
      try {
        hd = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      setLive(true);
      onHandoff(hd);
    });
    es.addEventListener("incidents", function (e) {
      try {
        renderIncidents(JSON.parse(e.data));
      } catch (err) {
        return;
      }
    });
    es.addEventListener("error", function () {
      setLive(false);
      if (es.readyState === 2) {
        // closed for good (e.g. signed out elsewhere): check the session, then reconnect
        api("GET", "/api/console/me").then(
          function () {
            setTimeout(function () {
              if (S.me && S.queueES === es) connectQueue();
            }, 2000);
          },
          function (err) {
            if (err.status === 401) signedOut(true);
          }
        );
      }
    });
  }

  // -- incidents: the open ones at the top, with their verdicts and notes -------------------------

  function loadIncidents() {
    api("GET", "/api/agent/incidents").then(renderIncidents, function () {});
  }

  function renderIncidents(list) {
    S.incidents = Array.isArray(list) ? list : [];
    var box = $("incidents");
    if (!box) return;
    // an agent typing a note keeps it: cards are rebuilt only for incidents whose state changed
    var typing = {};
    Array.prototype.forEach.call(box.querySelectorAll("textarea"), function (ta) {
      if (ta.value) typing[ta.getAttribute("data-key")] = ta.value;
    });
    box.textContent = "";
    S.incidents.forEach(function (inc) {
      box.appendChild(incidentCard(inc, typing));
    });
    box.hidden = !S.incidents.length;
  }

  function incidentCard(inc, typing) {
    var confirmed = inc.status === INC.CONFIRMED;
    var card = h("div", { class: "incident", "data-incident": String(inc.id), "data-status": inc.status });
    var head = h("div", { class: "ihead" });
    head.appendChild(
      h("span", {
        class: "istatus " + inc.status,
        text: t(confirmed ? "incidentConfirmed" : "incidentSuspected"),
      })
    );
    head.appendChild(h("span", { class: "ititle", text: inc.title }));
    head.appendChild(
      h("span", {
        class: "muted",
        text: t("incidentCounts", {
          conversations: inc.conversations,
          questions: inc.questions,
          languages: (inc.languages || []).join("/"),
          channels: (inc.channels || []).join("/"),
        }),
      })
    );
    card.appendChild(head);
    card.appendChild(h("div", { class: "isum", text: inc.summary }));
    var prefix = confirmed ? "resolution" : "note";
    var fields = {};
    var notes = h("div", { class: "inotes" });
    ["en", "zh"].forEach(function (lang) {
      var key = inc.id + ":" + prefix + ":" + lang;
      var label = confirmed
        ? t(lang === "en" ? "incidentResolutionEn" : "incidentResolutionZh")
        : t(lang === "en" ? "incidentNoteEn" : "incidentNoteZh");
      var ta = h("textarea", {
        class: "input",
        "data-key": key,
        "data-field": prefix + "_" + lang,
        "aria-label": label,
        placeholder: label,
        maxlength: "2000",
      });
      ta.value = typing[key] || "";
      fields[lang] = ta;
      notes.appendChild(ta);
    });
    if (confirmed && (inc.note_en || inc.note_zh)) {
      card.appendChild(h("div", { class: "isum", text: [inc.note_en, inc.note_zh].filter(Boolean).join(" · ") }));
    }
    card.appendChild(notes);
    var acts = h("div", { class: "iacts" });
    function act(action, cls, label, done) {
      var b = h("button", { class: "btn small " + cls, type: "button", "data-action": action, text: label });
      b.addEventListener("click", function () {
        b.disabled = true;
        var body = {};
        if (action !== "dismiss") {
          body.note_en = fields.en.value.trim() || null;
          body.note_zh = fields.zh.value.trim() || null;
        }
        api("POST", "/api/agent/incidents/" + inc.id + "/" + action, body).then(
          function (r) {
            fields.en.value = fields.zh.value = "";
            toast(done(r));
            loadIncidents();
          },
          function (err) {
            b.disabled = false;
            toast(err.message, true);
          }
        );
      });
      acts.appendChild(b);
    }
    if (!confirmed) {
      act("confirm", "primary", t("incidentConfirm"), function () {
        return t("incidentConfirmedToast");
      });
      act("dismiss", "", t("incidentDismiss"), function () {
        return t("incidentDismissedToast");
      });
    }
    act("resolve", "success", t("incidentResolve"), function (r) {
      return t("incidentResolvedToast", { count: r.notified });
    });
    card.appendChild(acts);
    return card;
  }

  function onHandoff(hd) {
    if (S.during) S.during[hd.id] = hd; // a read of the queue is in flight: it may not have this change yet
    var fresh = {};
    var active = hd.status !== ST.RESOLVED;
    if (S.known && active && !S.known[hd.id]) fresh[hd.id] = true;
    if (S.known) {
      if (active) S.known[hd.id] = true;
      else delete S.known[hd.id];
    }
    var rest = S.handoffs.filter(function (x) {
      return x.id !== hd.id;
    });
    if (matchesFilter(hd)) rest.push(hd);
    rest.sort(function (a, b) {
      return a.id - b.id;
    });
    S.handoffs = rest;
    renderQueue(fresh);
    setTitle();
    if (fresh[hd.id]) notify(hd);

    // keep the open conversation's owner in step with the queue
    var d = S.detail;
    if (d && d.id === hd.id && hd.note_count != null && hd.note_count !== d.note_count) {
      d.note_count = hd.note_count; // a note (maybe a colleague's): show it without a reload
      refreshNotes();
    }
    if (d && d.id === hd.id && d.status !== ST.RESOLVED) {
      if (hd.status === ST.RESOLVED) refreshDetail();
      else if (hd.status !== d.status || hd.claimed_by !== d.claimed_by) {
        d.status = hd.status;
        d.claimed_by = hd.claimed_by;
        renderOwner();
      }
    }
  }

  function renderQueue(fresh) {
    var list = $("queue-list");
    clear(list);
    var items = S.handoffs;
    $("queue-count").textContent = String(items.length);
    $("queue-empty").hidden = items.length > 0;
    if (!items.length) {
      $("queue-empty").lastChild.textContent =
        S.filter.status === ST.RESOLVED ? t("queueEmptyResolved") : t("queueEmpty");
    }
    var now = Date.now();
    items.forEach(function (hd) {
      var reason = reasonText(hd.reason);
      var owner;
      if (hd.status === ST.RESOLVED) owner = [h("span", { class: "dot resolved" }), resolvedLabel(hd.claimed_by)];
      else if (hd.status === ST.CLAIMED && hd.claimed_by === S.me) owner = [h("span", { class: "dot mine" }), t("ownerYours")];
      else if (hd.status === ST.CLAIMED) owner = [h("span", { class: "dot claimed" }), t("ownerTakenBy", { agent: hd.claimed_by })];
      else owner = [h("span", { class: "dot" }), t("ownerWaiting")];
      var item = h(
        "li",
        null,
        h(
          "button",
          {
            type: "button",
            class: "qitem" + (hd.id === S.selectedId ? " sel" : "") + (fresh && fresh[hd.id] ? " fresh" : ""),
            "data-handoff": hd.id,
            "aria-current": hd.id === S.selectedId ? "true" : null,
            onclick: function () {
              selectHandoff(hd.id);
            },
          },
          h(
            "div",
            { class: "qtop" },
            h("span", { class: "tag lang", text: LANGS[hd.lang] || hd.lang }),
            h("span", { class: "tag reason " + hd.reason, text: reason[0] }),
            hd.channel === "email" ? h("span", { class: "tag channel", "data-channel": "email", text: t("channelEmail") }) : null,
            slaTag(hd),
            h("span", {
              // red once an SLA clock is past due (the policy's business hours), not at a fixed wait
              class: "wait" + (hd.status !== ST.RESOLVED && breached(hd).length ? " long" : ""),
              title: t("waitingSince", { time: clock(hd.created_at) }),
              text: hd.status === ST.RESOLVED ? clock(hd.resolved_at || hd.created_at) : since(hd.created_at, now),
            })
          ),
          h("div", {
            class: "qq" + (hd.question ? "" : " none"),
            text: hd.question || t("noQuestionQueue"),
          }),
          h("div", { class: "qstatus" }, owner)
        )
      );
      list.appendChild(item);
    });
  }

  // ---- search: full text over every message (FTS5 / pg_trgm), old conversations included
  $("search-form").addEventListener("submit", function (e) {
    e.preventDefault();
    var q = $("search-q").value.trim();
    var out = $("search-results");
    clear(out);
    out.hidden = !q;
    $("queue-list").hidden = !!q;
    if (!q) return;
    api("GET", "/api/agent/search?q=" + encodeURIComponent(q)).then(function (hits) {
      clear(out);
      if (!hits.length) out.appendChild(h("li", { class: "empty", text: t("searchNothing", { q: q }) }));
      hits.forEach(function (hit) {
        var m = hit.message;
        out.appendChild(
          h(
            "li",
            null,
            h(
              "button",
              {
                type: "button",
                class: "hit",
                "data-hit-handoff": hit.handoff_id == null ? null : hit.handoff_id,
                disabled: hit.handoff_id == null,
                title: hit.handoff_id == null ? t("searchNeverHandedOff") : null,
                onclick: function () {
                  if (hit.handoff_id != null) selectHandoff(hit.handoff_id);
                },
              },
              h("span", { text: m.text.length > 140 ? m.text.slice(0, 140) + "…" : m.text }),
              h("small", { text: roleLabel(m.role) + " · " + clock(m.created_at) + (hit.handoff_id == null ? "" : " · " + t("handoffNumber", { id: hit.handoff_id })) })
            )
          )
        );
      });
    });
  });
  $("search-q").addEventListener("search", function () {
    if (!$("search-q").value) $("search-form").dispatchEvent(new Event("submit", { cancelable: true }));
  });

  $("filter-status").addEventListener("change", function (e) {
    S.filter.status = e.target.value;
    loadQueue();
  });
  $("filter-lang").addEventListener("change", function (e) {
    S.filter.lang = e.target.value;
    loadQueue();
  });

  // --------------------------------------------------------------------------------- detail

  function selectHandoff(id) {
    S.selectedId = id;
    var items = document.querySelectorAll(".qitem");
    for (var i = 0; i < items.length; i++) {
      var on = Number(items[i].getAttribute("data-handoff")) === id;
      items[i].classList.toggle("sel", on);
      if (on) items[i].setAttribute("aria-current", "true");
      else items[i].removeAttribute("aria-current");
    }
    var seq = (S.detailSeq = (S.detailSeq || 0) + 1);
    return api("GET", "/api/agent/handoffs/" + id).then(
      function (d) {
        if (S.selectedId !== id || seq !== S.detailSeq) return;
        S.detail = d;
        renderDetail();
        followConversation(d);
      },
      function (err) {
        if (err.status !== 401) toast(err.message, true);
      }
    );
  }

  /** Re-read only the open conversation's notes (its owner and status come from the queue's events:
   *  a slower read must not put back a state the stream has already moved past). */
  function refreshNotes() {
    var d = S.detail;
    if (!d) return;
    api("GET", "/api/agent/handoffs/" + d.id).then(function (fresh) {
      if (!S.detail || S.detail.id !== fresh.id) return;
      S.detail.notes = fresh.notes || [];
      renderNotes();
    });
  }

  function refreshDetail() {
    var d = S.detail;
    if (!d) return;
    api("GET", "/api/agent/handoffs/" + d.id).then(function (fresh) {
      if (!S.detail || S.detail.id !== fresh.id) return;
      S.detail.status = fresh.status;
      S.detail.claimed_by = fresh.claimed_by;
      S.detail.resolved_at = fresh.resolved_at;
      S.detail.resolution_answer = fresh.resolution_answer;
      S.detail.resolution_faq_id = fresh.resolution_faq_id;
      (fresh.transcript || []).forEach(addMessage);
      S.detail.notes = fresh.notes || [];
      renderNotes();
      renderOwner();
    });
  }

  function followConversation(d) {
    if (S.convES) S.convES.close();
    S.convES = null;
    var url =
      "/api/conversations/" + encodeURIComponent(d.conversation_id) + "/events?after=" + S.lastMsgId;
    var es = new EventSource(url);
    S.convES = es;
    es.addEventListener("message", function (e) {
      if (!S.detail || S.detail.conversation_id !== d.conversation_id) return;
      try {
        addMessage(JSON.parse(e.data));
      } catch (err) {
        /* ignore a malformed event */
      }
    });
    es.addEventListener("state", function (e) {
      if (!S.detail || S.detail.id !== d.id) return;
      var st;
      try {
        st = JSON.parse(e.data);
      } catch (err) {
        return;
      }
      var hd = st.handoff;
      if (hd && hd.id === d.id) {
        if (hd.status !== S.detail.status || hd.agent !== S.detail.claimed_by) {
          S.detail.status = hd.status;
          S.detail.claimed_by = hd.agent;
          renderOwner();
        }
      } else if (S.detail.status !== ST.RESOLVED) {
        refreshDetail(); // resolved (possibly by someone else)
      }
    });
  }

  function reasonOf(d) {
    return reasonText(d.reason);
  }

  function resolvedLabel(by) {
    return by ? t("ownerResolvedBy", { agent: by }) : t("ownerResolved");
  }

  function roleLabel(role) {
    return roleLabelOf("role_", role);
  }

  /** The label of an enum value (``prefix + value`` in the table), or the value itself. */
  function roleLabelOf(prefix, value) {
    var key = prefix + value;
    return t(key) === key ? value : t(key);
  }

  function breached(hd) {
    return (hd.sla || []).filter(function (c) {
      return c.breached;
    });
  }

  var SLA_NAMES = { first_response: "slaFirst", next_response: "slaNext", resolution: "slaResolution" };

  function slaName(metric) {
    return SLA_NAMES[metric] ? t(SLA_NAMES[metric]) : metric;
  }

  function slaTag(hd) {
    if (hd.status === ST.RESOLVED || !(hd.sla || []).length) return null;
    var late = breached(hd);
    if (late.length) {
      return h("span", {
        class: "tag sla breached",
        "data-sla": "breached",
        title: late.map(function (c) { return t("slaWasDue", { metric: slaName(c.metric), time: clock(c.due_at) }); }).join("\n"),
        text: t("slaOverdue", { metric: slaName(late[0].metric) }),
      });
    }
    var next = hd.sla.filter(function (c) { return c.due_at; }).sort(function (a, b) { return a.due_at < b.due_at ? -1 : 1; })[0];
    return next ? h("span", { class: "tag sla", "data-sla": "running", text: t("slaDue", { metric: slaName(next.metric), time: clock(next.due_at) }) }) : null;
  }

  function renderMail(d) {
    var box = h("section", { class: "box", id: "mail" }, h("h3", { text: d.channel === "email" ? t("mailBox") : t("mailFollowUp") }));
    box.appendChild(h("p", { class: "muted", text: d.contact_email ? t("mailReaches", { email: d.contact_email }) : t("mailNone") }));
    (d.attachments || []).forEach(function (a) {
      box.appendChild(h("div", null, h("a", { href: "/api/agent/attachments/" + a.id, download: a.filename, text: "📎 " + a.filename }), " " + t("attachmentSize", { kb: Math.ceil(a.size / 1024) })));
    });
    (d.mail || []).forEach(function (m) {
      var bad = m.status === MAIL.FAILED || m.status === MAIL.BOUNCED;
      box.appendChild(
        h("div", { class: "mailrow" + (bad ? " bad" : ""), "data-mail-status": m.status },
          m.kind + " → " + m.to_addr + ": " + mailStatus(m.status) + (m.attempts > 1 ? " " + t("mailTries", { n: m.attempts }) : "") + (m.last_error ? " — " + m.last_error : ""))
      );
    });
    return box;
  }

  function mailStatus(status) {
    var key = "mailStatus_" + status;
    return t(key) === key ? status : t(key);
  }

  function renderDetail() {
    var d = S.detail;
    var pane = $("detail");
    clear(pane);
    S.seen = {};
    S.lastMsgId = 0;

    var head = h(
      "div",
      { class: "dhead" },
      h(
        "div",
        { class: "dtitle" },
        h("h2", { id: "detail-question", text: d.question || t("noQuestionYet") }),
        h(
          "div",
          { class: "chips" },
          h("span", { class: "tag reason " + d.reason, text: reasonOf(d)[0] }),
          h("span", { class: "tag lang", text: LANGS[d.lang] || d.lang }),
          d.channel === "email" ? h("span", { class: "tag channel", text: t("channelEmail") }) : null,
          slaTag(d),
          h("span", { id: "detail-waiting" }),
          h("span", { text: t("handoffTitle", { id: d.id }) })
        )
      ),
      h("div", { class: "actions", id: "detail-actions" })
    );

    var transcript = h("div", { class: "transcript", id: "transcript", role: "log", "aria-live": "polite" });
    var composer = h("div", { class: "composer", id: "composer" });
    var thread = h("div", { class: "thread" }, transcript, composer);
    var context = h("aside", { class: "context", "aria-label": t("context") }, renderWhy(d), renderCustomer(d), renderNotesBox(), renderMail(d), renderCandidates(d), renderSimilar(d));

    append(pane, [head, h("div", { class: "dbody" }, thread, context)]);
    (d.transcript || []).forEach(addMessage);
    renderNotes();
    renderComposer();
    renderOwner();
    renderWaiting();
    transcript.scrollTop = transcript.scrollHeight;
  }

  function renderWaiting() {
    var d = S.detail;
    var el = $("detail-waiting");
    if (!d || !el) return;
    el.textContent =
      d.status === ST.RESOLVED
        ? t("resolvedAt", { time: clock(d.resolved_at) })
        : t("waitingFor", { since: since(d.created_at), time: clock(d.created_at) });
  }

  // who the customer is, when the invoice app signed them in, and their earlier conversations
  function renderCustomer(d) {
    if (!d.customer_id) return null;
    var c = d.customer || {};
    var rows = [[t("customerId"), d.customer_id], [t("customerName"), c.name], [t("customerEmail"), c.email], [t("customerCompany"), c.company]].filter(function (r) {
      return r[1];
    });
    var box = h("section", { class: "box customer-box", id: "customer" }, h("h3", { text: t("customerBox") }));
    box.appendChild(h("dl", null, rows.map(function (r) {
      return [h("dt", { text: r[0] }), h("dd", { text: r[1] })];
    })));
    if ((d.earlier || []).length) {
      box.appendChild(h("div", { class: "muted", text: t("earlier") }));
      d.earlier.forEach(function (e) {
        box.appendChild(
          h("button", {
            type: "button",
            class: "hit",
            "data-earlier": e.conversation_id,
            disabled: e.handoff_id == null,
            text: clock(e.updated_at) + " · " + (e.handoff_id == null ? t("earlierBot") : t("handoffNumber", { id: e.handoff_id })),
            onclick: function () {
              if (e.handoff_id != null) selectHandoff(e.handoff_id);
            },
          })
        );
      });
    }
    return box;
  }

  function renderWhy(d) {
    var r = reasonOf(d);
    return h(
      "section",
      { class: "box", id: "why" },
      h("h3", { text: t("whyTitle") }),
      h("p", { class: "why" }, h("b", { text: r[0] + ". " }), r[1]),
      h("div", { class: "muted", style: "font-size:12px;margin-bottom:4px", text: t("customersQuestion") }),
      h("div", { class: "quote", id: "why-question", text: d.question || t("noQuestionWhy") })
    );
  }

  function renderCandidates(d) {
    var cands = d.candidates || [];
    var box = h("section", { class: "box", id: "candidates" }, h("h3", { text: t("candidatesTitle") }));
    if (!cands.length) {
      box.appendChild(h("p", { class: "nothing", text: t("noCandidates") }));
      return box;
    }
    var scores = cands.map(function (c) {
      return typeof c.score === "number" ? c.score : 0;
    });
    var hi = Math.max.apply(null, scores);
    var lo = Math.min.apply(null, scores);
    function width(score) {
      // relative to the other candidates (scores are not on a fixed scale and can be negative)
      return hi === lo ? 100 : Math.round(25 + (75 * ((score || 0) - lo)) / (hi - lo));
    }
    var rows = cands.map(function (c) {
      var signals = c.signals
        ? Object.keys(c.signals)
            .map(function (k) {
              return k + " " + num(c.signals[k], 3);
            })
            .join(", ")
        : "";
      return h(
        "tr",
        { title: (c.matched ? t("matched", { text: c.matched }) + "\n" : "") + (signals ? t("signals", { text: signals }) : "") },
        h(
          "td",
          null,
          h("div", { class: "ct", text: c.title || c.id }),
          h("div", { class: "cid", text: c.id }),
          h("div", { class: "bar" }, h("i", { style: "width:" + width(c.score) + "%" }))
        ),
        h("td", { class: "n", text: num(c.score) }),
        h("td", { class: "n", text: c.confidence == null ? "" : pct(c.confidence) })
      );
    });
    box.appendChild(
      h(
        "table",
        { class: "cands" },
        h("thead", null, h("tr", null, h("th", { text: t("entry") }), h("th", { class: "n", text: t("score") }), h("th", { class: "n", text: t("confShort") }))),
        h("tbody", null, rows)
      )
    );
    return box;
  }

  function renderSimilar(d) {
    var list = d.similar_tickets || [];
    var box = h("section", { class: "box", id: "similar" }, h("h3", { text: t("similarTitle") }));
    if (!list.length) {
      box.appendChild(h("p", { class: "nothing", text: t("noSimilar") }));
      return box;
    }
    list.forEach(function (ticket) {
      box.appendChild(
        h(
          "div",
          { class: "ticket" },
          h("div", { class: "tq", text: ticket.question }),
          h("div", { class: "ta", text: ticket.answer }),
          h(
            "div",
            { class: "tm" },
            h("span", { text: ticket.id }),
            h("span", { text: t("scoreOf", { n: num(ticket.score) }) }),
            ticket.faq_id ? h("span", { text: t("faqOf", { id: ticket.faq_id }) }) : null,
            h("button", {
              type: "button",
              class: "link",
              text: t("useAsReply"),
              onclick: function () {
                var ta = $("reply-text");
                if (ta && !ta.disabled) {
                  ta.value = ticket.answer;
                  ta.focus();
                }
              },
            })
          )
        )
      );
    });
    return box;
  }

  function addMessage(m) {
    if (!m || m.id == null || S.seen[m.id]) return;
    var box = $("transcript");
    if (!box) return;
    S.seen[m.id] = true;
    if (m.id > S.lastMsgId) S.lastMsgId = m.id;
    var role = m.role === "customer" || m.role === "agent" || m.role === "system" ? m.role : "bot";
    var meta = m.meta || {};
    var who = role === "agent" ? m.author || roleLabel(role) : roleLabel(role);
    var headBits = [h("b", { text: who }), h("span", { text: clock(m.created_at) })];
    if (role === "bot" && meta.kind) headBits.push(h("span", { class: "kind " + meta.kind, text: roleLabelOf("kind_", meta.kind) }));
    var text = h("div", { class: "mtext", text: role === "bot" ? null : m.text });
    if (role === "bot") {
      text.classList.add("md");
      text.innerHTML = MARKDOWN.render(m.text); // sanitised: a fixed set of tags, http(s) links
    }
    var foot = null;
    if (role === "bot") {
      var bits = [];
      if (typeof meta.confidence === "number") bits.push(h("span", { text: t("confidenceOf", { pct: pct(meta.confidence) }) }));
      (meta.sources || []).forEach(function (s) {
        bits.push(h("span", { text: t("sourceOf", { title: s.title || s.id }) }));
      });
      if (meta.suggestions && meta.suggestions.length) {
        bits.push(
          h("span", {
            text: t("offered", {
              list: meta.suggestions
                .map(function (s) {
                  return s.title || s.id;
                })
                .join(" / "),
            }),
          })
        );
      }
      if (m.feedback) bits.push(h("span", { text: m.feedback === "yes" ? t("feedbackYes") : t("feedbackNo") }));
      if (String(m.text).length > 360) {
        text.classList.add("clamp");
        bits.push(
          h("button", {
            type: "button",
            class: "link",
            text: t("showAll"),
            onclick: function (e) {
              var on = text.classList.toggle("clamp");
              e.target.textContent = on ? t("showAll") : t("showLess");
            },
          })
        );
      }
      if (bits.length) foot = h("div", { class: "mfoot" }, bits);
    }
    var row = h(
      "div",
      { class: "msg " + role, "data-id": m.id, "data-role": role },
      h("div", { class: "mhead" }, headBits),
      text,
      foot
    );
    // keep id order even if a live event overtakes the initial load
    var after = null;
    var rows = box.children;
    for (var i = rows.length - 1; i >= 0; i--) {
      if (Number(rows[i].getAttribute("data-id")) < m.id) {
        after = rows[i];
        break;
      }
    }
    var stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    if (after) after.after(row);
    else box.insertBefore(row, box.firstChild);
    if (stick || role !== "customer") box.scrollTop = box.scrollHeight;
  }

  // ------------------------------------------------------------------ claim / reply / resolve

  function renderOwner() {
    var d = S.detail;
    var actions = $("detail-actions");
    if (!d || !actions) return;
    clear(actions);
    if (d.status === ST.RESOLVED) {
      actions.appendChild(
        h("span", { class: "owner resolved", id: "owner", text: resolvedLabel(d.claimed_by) })
      );
    } else if (d.status === ST.CLAIMED && d.claimed_by && d.claimed_by !== S.me) {
      actions.appendChild(h("span", { class: "owner other", id: "owner" }, h("span", { class: "ava", "data-initial": initial(d.claimed_by), "aria-hidden": "true" }), t("ownerTakenBy", { agent: d.claimed_by })));
    } else if (d.status === ST.CLAIMED) {
      actions.appendChild(h("span", { class: "owner mine", id: "owner", text: t("ownerMine") }));
      actions.appendChild(h("button", { type: "button", class: "btn", id: "unclaim", text: t("unclaim"), onclick: unclaim }));
      actions.appendChild(transferControl(t("transferTo")));
      actions.appendChild(h("button", { type: "button", class: "btn success", id: "resolve-open", text: t("resolveOpen"), onclick: openResolve }));
    } else {
      actions.appendChild(h("button", { type: "button", class: "btn primary", id: "claim", text: t("claim"), onclick: claim }));
      actions.appendChild(transferControl(t("assignTo")));
      actions.appendChild(h("button", { type: "button", class: "btn", id: "resolve-open", text: t("resolveOpen"), onclick: openResolve }));
    }
    renderComposer();
    renderWaiting();
  }

  function renderComposer() {
    var d = S.detail;
    var c = $("composer");
    if (!d || !c) return;
    var keep = $("reply-text") ? $("reply-text").value : "";
    clear(c);
    var takenByOther = d.status === ST.CLAIMED && d.claimed_by && d.claimed_by !== S.me;
    var resolved = d.status === ST.RESOLVED;
    var note = null;
    if (takenByOther) note = h("div", { class: "note warn", text: t("takenByOther", { agent: d.claimed_by }) });
    else if (resolved) note = h("div", { class: "note", text: d.resolution_answer ? t("resolvedNoteAnswer", { answer: d.resolution_answer }) : t("resolvedNote") });
    var ta = h("textarea", {
      id: "reply-text",
      placeholder: takenByOther || resolved ? "" : t("replyPlaceholder"),
      "aria-label": t("replyLabel"),
      maxlength: "4000",
      disabled: !!(takenByOther || resolved),
    });
    ta.value = takenByOther || resolved ? "" : keep;
    ta.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        sendReply();
      }
    });
    var send = h("button", { type: "button", class: "btn primary", id: "reply-send", text: t("send"), disabled: !!(takenByOther || resolved), onclick: sendReply });
    var hint = d.status === ST.OPEN ? t("replyClaims") : "";
    var canned = takenByOther || resolved ? null : cannedControl(d, ta);
    append(c, [note, ta, h("div", { class: "crow" }, canned, h("span", { class: "hint", id: "reply-hint", text: hint }), send)]);
  }

  // ---- canned replies: the handoff's language first, variables filled in by the server
  function cannedControl(d, ta) {
    var list = (S.canned || []).slice().sort(function (a, b) {
      return (a.lang === d.lang ? 0 : 1) - (b.lang === d.lang ? 0 : 1) || (a.title < b.title ? -1 : 1);
    });
    if (!list.length) return null;
    var sel = h("select", { id: "canned", class: "btn", "aria-label": t("cannedLabel") }, h("option", { value: "", text: t("cannedPick") }));
    list.forEach(function (r) {
      sel.appendChild(h("option", { value: String(r.id), text: "[" + (LANGS[r.lang] || r.lang) + "] " + r.title }));
    });
    sel.addEventListener("change", function () {
      if (!sel.value) return;
      api("GET", "/api/agent/handoffs/" + d.id + "/canned/" + sel.value).then(function (out) {
        ta.value = ta.value ? ta.value + "\n" + out.text : out.text;
        sel.value = "";
        ta.focus();
      });
    });
    return sel;
  }

  function loadCanned() {
    api("GET", "/api/agent/canned").then(function (list) {
      S.canned = list || [];
      if (S.detail) renderComposer();
    });
  }

  // ---- internal notes: a table of their own on the server, never a message the customer could see

  function renderNotesBox() {
    var box = h("section", { class: "box notes", id: "notes" }, h("h3", { text: t("notesTitle") }));
    box.appendChild(h("p", { class: "muted", text: t("notesIntro") }));
    box.appendChild(h("div", { id: "notes-list" }));
    var ta = h("textarea", { id: "note-text", placeholder: t("notePlaceholder"), "aria-label": t("noteLabel"), maxlength: "4000", rows: "2" });
    var btn = h("button", {
      type: "button",
      class: "btn",
      id: "note-add",
      text: t("noteAdd"),
      onclick: function () {
        var text = ta.value.trim();
        if (!text || !S.detail) return;
        btn.disabled = true;
        api("POST", "/api/agent/handoffs/" + S.detail.id + "/notes", { text: text }).then(
          function (note) {
            btn.disabled = false;
            ta.value = "";
            S.detail.notes = (S.detail.notes || []).concat([note]);
            renderNotes();
          },
          function (err) {
            btn.disabled = false;
            if (err.status !== 401) toast(err.message, true);
          }
        );
      },
    });
    box.appendChild(ta);
    box.appendChild(btn);
    return box;
  }

  function renderNotes() {
    var list = $("notes-list");
    if (!list || !S.detail) return;
    clear(list);
    (S.detail.notes || []).forEach(function (n) {
      list.appendChild(
        h("div", { class: "note-item", "data-note": n.id }, h("b", { text: n.author }), " · " + clock(n.created_at), h("div", { class: "ntext", text: n.text }))
      );
    });
  }

  // ---- unclaim, transfer / assign

  function transferControl(label) {
    var sel = h("select", { id: "transfer", "aria-label": label, class: "btn" });
    sel.appendChild(h("option", { value: "", text: label }));
    (S.agents || []).forEach(function (a) {
      if (a.username !== (S.detail && S.detail.claimed_by)) sel.appendChild(h("option", { value: a.username, text: a.display_name + " (" + a.username + ")" }));
    });
    sel.addEventListener("change", function () {
      var to = sel.value;
      if (!to || !S.detail) return;
      sel.disabled = true;
      api("POST", "/api/agent/handoffs/" + S.detail.id + "/transfer", { to: to }).then(
        function (hd) {
          toast(t("transferred", { agent: to }));
          S.detail.status = hd.status;
          S.detail.claimed_by = hd.claimed_by;
          renderOwner();
        },
        function (err) {
          sel.disabled = false;
          if (err.status !== 401) toast(err.message, true);
          refreshDetail();
        }
      );
    });
    return sel;
  }

  function loadAgents() {
    api("GET", "/api/agent/agents").then(function (list) {
      S.agents = list || [];
      if (S.detail) renderOwner();
    });
  }

  function unclaim() {
    var d = S.detail;
    api("POST", "/api/agent/handoffs/" + d.id + "/unclaim", {}).then(
      function (hd) {
        if (S.detail && S.detail.id === hd.id) {
          S.detail.status = hd.status;
          S.detail.claimed_by = hd.claimed_by;
          renderOwner();
        }
      },
      function (err) {
        if (err.status !== 401) toast(err.message, true);
        refreshDetail();
      }
    );
  }

  function claim() {
    var d = S.detail;
    var btn = $("claim");
    if (btn) btn.disabled = true;
    api("POST", "/api/agent/handoffs/" + d.id + "/claim", {}).then(
      function (hd) {
        if (S.detail && S.detail.id === hd.id) {
          S.detail.status = hd.status;
          S.detail.claimed_by = hd.claimed_by;
          renderOwner();
          var ta = $("reply-text");
          if (ta) ta.focus();
        }
      },
      function (err) {
        if (err.status === 409) {
          toast(t("claimedFirst"), true);
          refreshDetail();
        } else if (err.status !== 401) {
          toast(err.message, true);
          if (btn) btn.disabled = false;
        }
      }
    );
  }

  function sendReply() {
    var d = S.detail;
    var ta = $("reply-text");
    var btn = $("reply-send");
    if (!d || !ta || ta.disabled) return;
    var text = ta.value.trim();
    if (!text) {
      ta.focus();
      return;
    }
    btn.disabled = true;
    var hint = $("reply-hint");
    api("POST", "/api/agent/handoffs/" + d.id + "/reply", { text: text }).then(
      function (m) {
        ta.value = "";
        btn.disabled = false;
        addMessage(m);
        if (d.status === ST.OPEN) {
          d.status = ST.CLAIMED;
          d.claimed_by = S.me;
          renderOwner();
        }
      },
      function (err) {
        btn.disabled = false;
        if (err.status === 409) {
          toast(t("takenBySomeone"), true);
          refreshDetail();
        } else if (err.status !== 401 && hint) {
          hint.className = "hint error-line";
          hint.textContent = t("notSent", { error: err.message });
        }
      }
    );
  }

  function loadFaq() {
    if (S.faq) return Promise.resolve(S.faq);
    return api("GET", "/api/agent/faq").then(function (list) {
      S.faq = list;
      return list;
    });
  }

  function lastAgentText(d) {
    var rows = document.querySelectorAll('#transcript .msg.agent .mtext');
    return rows.length ? rows[rows.length - 1].textContent : d.resolution_answer || "";
  }

  function openResolve() {
    var d = S.detail;
    if (!d) return;
    var mode = "link";
    var answer = h("textarea", { class: "input", id: "resolve-answer", rows: 3, maxlength: "8000", "aria-label": t("answer") });
    answer.value = lastAgentText(d);
    var faqSelect = h("select", { class: "input", id: "resolve-faq", "aria-label": t("faqEntry") }, h("option", { value: "", text: t("loadingEntries") }));
    var draftTitle = h("input", { class: "input", id: "draft-title", maxlength: "200", "aria-label": t("draftTitle") });
    var draftQuestions = h("textarea", { class: "input", id: "draft-questions", rows: 2, "aria-label": t("draftQuestions") });
    draftQuestions.value = d.question || "";
    var draftAnswer = h("textarea", {
      class: "input",
      id: "draft-answer",
      rows: 3,
      maxlength: "8000",
      "aria-label": t("draftAnswer"),
      placeholder: t("draftAnswerPlaceholder"),
    });
    // prefilled from the agent's last reply, which the customer already has: not sent again unless edited
    var prefilled = answer.value.trim();
    var toCustomer = h("input", { type: "checkbox", id: "resolve-send", checked: !prefilled });
    answer.addEventListener("input", function () {
      toCustomer.checked = answer.value.trim() !== prefilled;
    });
    var error = h("span", { class: "error-line", id: "resolve-error", role: "alert" });
    var submit = h("button", { type: "submit", class: "btn success", id: "resolve-submit", text: t("resolve") });

    function choice(value, label, sub) {
      var radio = h("input", {
        type: "radio",
        name: "resolve-mode",
        value: value,
        checked: value === mode,
        onchange: function () {
          mode = value;
          sync();
        },
      });
      return h("div", { class: "choice", "data-mode": value }, h("label", null, radio, label), sub ? h("div", { class: "sub" }, sub) : null);
    }

    var choices = [
      choice("link", t("modeLink"), h("label", { class: "field" }, faqSelect)),
      choice("draft", t("modeDraft"), [
        h("label", { class: "field" }, h("span", { text: t("title") }), draftTitle),
        h("label", { class: "field" }, h("span", { text: t("questionsPerLine") }), draftQuestions),
        h("label", { class: "field" }, h("span", { text: t("answer") }), draftAnswer),
      ]),
      choice("none", t("modeNone"), null),
    ];

    function sync() {
      choices.forEach(function (c) {
        var on = c.getAttribute("data-mode") === mode;
        c.classList.toggle("on", on);
        var sub = c.querySelector(".sub");
        if (sub) sub.hidden = !on;
      });
    }

    var form = h(
      "form",
      { class: "dialog", role: "dialog", "aria-modal": "true", "aria-labelledby": "resolve-title", novalidate: true },
      h("header", null, h("h2", { id: "resolve-title", text: t("resolveTitle", { id: d.id }) }), h("p", { text: t("resolveIntro") })),
      h(
        "div",
        { class: "dbody2" },
        h("label", { class: "field" }, h("span", { text: t("resolveAnswer") }), answer),
        choices,
        h("label", { class: "check" }, toCustomer, t("alsoSend"))
      ),
      h(
        "footer",
        null,
        error,
        h("button", { type: "button", class: "btn", text: t("cancel"), onclick: close }),
        submit
      )
    );
    var overlay = h("div", {
      class: "overlay",
      id: "resolve-dialog",
      onclick: function (e) {
        if (e.target === overlay) close();
      },
    }, form);

    function close() {
      overlay.remove();
      document.removeEventListener("keydown", onKey);
    }
    function onKey(e) {
      if (e.key === "Escape") close();
    }
    document.addEventListener("keydown", onKey);

    form.addEventListener("submit", function (e) {
      e.preventDefault();
      var body = { answer: answer.value.trim(), reply_to_customer: toCustomer.checked };
      if (!body.answer) {
        error.textContent = t("needAnswer");
        answer.focus();
        return;
      }
      if (mode === "link") {
        if (!faqSelect.value) {
          error.textContent = t("needFaq");
          return;
        }
        body.faq_id = faqSelect.value;
      } else if (mode === "draft") {
        var title = draftTitle.value.trim();
        var da = draftAnswer.value.trim() || body.answer;
        if (title.length < 3) {
          error.textContent = t("needTitle");
          draftTitle.focus();
          return;
        }
        if (da.length < 10) {
          error.textContent = t("needDraftAnswer");
          draftAnswer.focus();
          return;
        }
        body.draft = {
          title: title,
          questions: draftQuestions.value
            .split("\n")
            .map(function (q) {
              return q.trim();
            })
            .filter(Boolean)
            .slice(0, 10),
          answer: da,
        };
      }
      error.textContent = "";
      submit.disabled = true;
      api("POST", "/api/agent/handoffs/" + d.id + "/resolve", body).then(
        function (res) {
          close();
          if (S.detail && S.detail.id === d.id) {
            S.detail.status = res.handoff.status;
            S.detail.claimed_by = res.handoff.claimed_by;
            S.detail.resolved_at = res.handoff.resolved_at;
            S.detail.resolution_answer = res.handoff.resolution_answer;
            renderOwner();
          }
          toast(
            res.learned
              ? t("resolvedLinked", { faq: body.faq_id })
              : res.draft_id
              ? t("resolvedDraft", { id: res.draft_id })
              : t("resolvedTicket", { id: res.ticket_id })
          );
          loadQueue();
        },
        function (err) {
          submit.disabled = false;
          if (err.status === 409) error.textContent = t("resolveConflict");
          else if (err.status !== 401) error.textContent = err.message;
        }
      );
    });

    document.body.appendChild(overlay);
    sync();
    answer.focus();

    loadFaq().then(
      function (list) {
        clear(faqSelect);
        faqSelect.appendChild(h("option", { value: "", text: t("chooseEntry") }));
        var top = (d.candidates || []).map(function (c) {
          return c.id;
        });
        var lang = d.lang === "zh" ? "zh" : "en";
        function label(e) {
          return (e.titles[lang] || e.titles.en || e.titles.zh || e.id) + "  (" + e.id + ")";
        }
        if (top.length) {
          var group = h("optgroup", { label: t("candidatesTitle") });
          top.forEach(function (id) {
            var e = list.filter(function (x) {
              return x.id === id;
            })[0];
            if (e) group.appendChild(h("option", { value: e.id, text: label(e) }));
          });
          faqSelect.appendChild(group);
        }
        var all = h("optgroup", { label: t("allEntries") });
        list.forEach(function (e) {
          all.appendChild(h("option", { value: e.id, text: label(e) }));
        });
        faqSelect.appendChild(all);
        if (d.resolution_faq_id) faqSelect.value = d.resolution_faq_id;
      },
      function (err) {
        clear(faqSelect);
        faqSelect.appendChild(h("option", { value: "", text: t("faqLoadFailed", { error: err.message }) }));
      }
    );
  }

  // ---------------------------------------------------------------------------------- start

  api("GET", "/api/console/me").then(
    function (res) {
      startApp(res.username, res.role);
    },
    function (err) {
      showSignin(err.status && err.status !== 401 ? err.message : "");
    }
  );
})();
