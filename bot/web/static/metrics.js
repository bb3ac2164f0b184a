/* Outcome metrics drawn as SVG bar charts from GET /api/agent/metrics (no library, no CDN). */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  // each chart's title and note are the strings c_<key> and n_<key> of the table's "metrics" section
  var CHARTS = [
    { key: "conversations", get: function (d) { return d.conversations; }, pct: false },
    { key: "automation_24h", get: function (d) { return d.automation["24h"].rate; }, pct: true },
    { key: "automation_7d", get: function (d) { return d.automation["7d"].rate; }, pct: true },
    { key: "handoff_rate", get: function (d) { return d.handoff_rate; }, pct: true },
    { key: "first_reply", get: function (d) { return d.first_reply_minutes_median; }, pct: false },
    { key: "sla", get: function (d) { return d.sla_attainment; }, pct: true },
    { key: "csat", get: function (d) { return d.csat; }, pct: true },
  ];
  var L = window.LedgerlyPageLang("metrics"); // pagelang.js: the console's strings and language
  var t = L.t;

  function $(id) {
    return document.getElementById(id);
  }

  function fmt(v, pct) {
    if (v == null) return "–";
    return pct ? Math.round(v * 1000) / 10 + "%" : String(Math.round(v * 10) / 10);
  }

  function label(d) {
    return d.week ? d.week + (d.partial ? " (" + d.since + " " + t("to") + " " + d.until + ", " + t("part") + ")" : "") : d.day;
  }

  function bars(days, chart) {
    var svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 300 120");
    svg.setAttribute("role", "img");
    svg.setAttribute("data-chart", chart.key);
    var values = days.map(chart.get);
    var max = chart.pct ? 1 : Math.max.apply(null, values.map(function (v) { return v || 0; }).concat([1]));
    var w = 300 / Math.max(days.length, 1);
    days.forEach(function (d, i) {
      var v = values[i];
      var r = document.createElementNS(SVG, "rect");
      var hgt = v == null ? 0 : Math.max(1, (100 * v) / max);
      r.setAttribute("x", String(i * w + w * 0.15));
      r.setAttribute("width", String(w * 0.7));
      r.setAttribute("y", String(105 - hgt));
      r.setAttribute("height", String(hgt));
      r.setAttribute("fill", v == null ? "#e6e9f0" : "#1f4fd1");
      r.setAttribute(d.week ? "data-week" : "data-day", d.week || d.day);
      r.setAttribute("data-value", v == null ? "" : String(v));
      var tip = document.createElementNS(SVG, "title");
      tip.textContent = label(d) + ": " + fmt(v, chart.pct);
      r.appendChild(tip);
      svg.appendChild(r);
    });
    var axis = document.createElementNS(SVG, "line");
    axis.setAttribute("x1", "0");
    axis.setAttribute("x2", "300");
    axis.setAttribute("y1", "105.5");
    axis.setAttribute("y2", "105.5");
    axis.setAttribute("stroke", "#98a2b3");
    svg.appendChild(axis);
    [days[0], days[days.length - 1]].forEach(function (d, j) {
      if (!d) return;
      var t = document.createElementNS(SVG, "text");
      t.setAttribute("x", j ? "300" : "0");
      t.setAttribute("y", "118");
      t.setAttribute("font-size", "9");
      t.setAttribute("fill", "#667085");
      t.setAttribute("text-anchor", j ? "end" : "start");
      t.textContent = d.week || d.day;
      svg.appendChild(t);
    });
    return svg;
  }

  function summaryValue(s, chart) {
    var fake = { conversations: s.conversations, automation: s.automation, handoff_rate: s.handoff_rate,
      first_reply_minutes_median: s.first_reply_minutes_median, sla_attainment: s.sla_attainment, csat: s.csat };
    return chart.get(fake);
  }

  function query() {
    var days = Number($("days").value);
    var until = new Date();
    until.setUTCDate(until.getUTCDate() + 1);
    var since = new Date(until.getTime() - days * 86400000);
    var q = "since=" + since.toISOString().slice(0, 10) + "&until=" + until.toISOString().slice(0, 10);
    if ($("lang").value) q += "&lang=" + $("lang").value;
    if ($("channel").value) q += "&channel=" + $("channel").value;
    return q;
  }

  // the per-entry table, sorted by one column (numbers: most first; the title: A to Z)
  var sortKey = "answers";
  var sortDir = -1;
  var entryRows = [];

  function cell(tr, text, cls) {
    var td = document.createElement("td");
    if (cls) td.className = cls;
    td.textContent = text;
    tr.appendChild(td);
    return td;
  }

  function minutes(seconds) {
    return seconds == null ? "–" : String(Math.round(seconds / 6) / 10);
  }

  function drawIncidents(inc) {
    var body = document.querySelector("#incidents tbody");
    body.textContent = "";
    if (!inc) return;
    $("incidents-summary").textContent = t("incidentsSummary", {
      count: inc.count,
      page: minutes(inc.median_seconds_to_page),
      confirm: minutes(inc.median_seconds_to_confirm),
      resolve: minutes(inc.median_seconds_to_resolve),
      notified: inc.customers_notified,
    });
    (inc.incidents || []).forEach(function (r) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-incident", String(r.id));
      cell(tr, r.title);
      cell(tr, r.status).setAttribute("data-col", "status");
      cell(tr, String(r.conversations), "num");
      cell(tr, minutes(r.seconds_to_page), "num").setAttribute("data-col", "to_page");
      cell(tr, minutes(r.seconds_to_confirm), "num").setAttribute("data-col", "to_confirm");
      cell(tr, minutes(r.seconds_to_resolve), "num").setAttribute("data-col", "to_resolve");
      cell(tr, r.customers_notified == null ? "–" : String(r.customers_notified), "num").setAttribute("data-col", "notified");
      body.appendChild(tr);
    });
  }

  function drawEntries() {
    var body = document.querySelector("#entries tbody");
    body.textContent = "";
    var rows = entryRows.slice().sort(function (a, b) {
      var x = a[sortKey];
      var y = b[sortKey];
      if (sortKey === "title") {
        x = (a.title || a.id).toLowerCase();
        y = (b.title || b.id).toLowerCase();
      }
      if (x == null && y == null) return a.id < b.id ? -1 : 1;
      if (x == null) return 1; // no value (nothing counted) sorts last either way
      if (y == null) return -1;
      if (x === y) return a.id < b.id ? -1 : 1;
      return (x < y ? -1 : 1) * sortDir;
    });
    rows.forEach(function (e) {
      var tr = document.createElement("tr");
      tr.setAttribute("data-entry", e.id);
      var name = cell(tr, e.title || e.id);
      var id = document.createElement("div");
      id.className = "id";
      id.textContent = e.in_faq ? e.id : t("noLongerInFaq", { id: e.id });
      name.appendChild(id);
      cell(tr, String(e.answers), "num").setAttribute("data-col", "answers");
      cell(tr, String(e.up), "num").setAttribute("data-col", "up");
      cell(tr, String(e.down), "num").setAttribute("data-col", "down");
      cell(tr, String(e.not_what_i_asked), "num").setAttribute("data-col", "not_what_i_asked");
      cell(tr, fmt(e.helpful_rate, true), "num").setAttribute("data-col", "helpful_rate");
      cell(tr, fmt(e.miss_rate, true), "num").setAttribute("data-col", "miss_rate");
      body.appendChild(tr);
    });
    Array.prototype.forEach.call(document.querySelectorAll("#entries th"), function (th) {
      if (th.getAttribute("data-sort") === sortKey) th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      else th.removeAttribute("aria-sort");
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("#entries th"), function (th) {
    th.addEventListener("click", function () {
      var key = th.getAttribute("data-sort");
      if (key === sortKey) sortDir = -sortDir;
      else {
        sortKey = key;
        sortDir = key === "title" ? 1 : -1;
      }
      drawEntries();
    });
  });

  function load() {
    var q = query();
    var group = $("group").value;
    $("csv").href = "/api/agent/metrics.csv?" + q + "&group=" + group;
    $("entries-csv").href = "/api/agent/metrics/entries.csv?" + q;
    fetch("/api/agent/metrics?" + q + "&group=" + group, { credentials: "same-origin" })
      .then(function (r) {
        if (r.status === 401) {
          location.href = "/console";
          throw new Error("signed out");
        }
        if (!r.ok) throw new Error("HTTP " + r.status);
        return r.json();
      })
      .then(function (m) {
        $("error").hidden = true;
        var main = $("charts");
        main.textContent = "";
        CHARTS.forEach(function (c) {
          var card = document.createElement("section");
          card.className = "card";
          card.setAttribute("data-card", c.key);
          var h = document.createElement("h2");
          h.textContent = t("c_" + c.key);
          var big = document.createElement("div");
          big.className = "big";
          big.textContent = fmt(summaryValue(m.summary, c), c.pct);
          var p = document.createElement("p");
          p.textContent = t("n_" + c.key);
          card.appendChild(h);
          card.appendChild(big);
          card.appendChild(p);
          card.appendChild(bars(m.weeks || m.days, c));
          main.appendChild(card);
        });
        entryRows = m.entries || [];
        drawEntries();
        drawIncidents(m.incidents);
      })
      .catch(function (e) {
        $("error").hidden = false;
        $("error").textContent = t("loadFailed", { error: e.message });
      });
  }

  ["days", "lang", "channel", "group"].forEach(function (id) {
    $(id).addEventListener("change", load);
  });
  $("lang-switch").addEventListener("change", function () {
    L.set($("lang-switch").value);
    load();
  });
  L.apply();
  load();
})();
