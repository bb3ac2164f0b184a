/* Outcome metrics drawn as SVG bar charts from GET /api/agent/metrics (no library, no CDN). */
(function () {
  "use strict";
  var SVG = "http://www.w3.org/2000/svg";
  var CHARTS = [
    { key: "conversations", title: "Conversations", note: "Started per day.", get: function (d) { return d.conversations; }, pct: false },
    { key: "automation_24h", title: "Automation rate (24 h)", note: "Answered by the assistant, not handed off within 24 h, no thumbs down.", get: function (d) { return d.automation["24h"].rate; }, pct: true },
    { key: "automation_7d", title: "Automation rate (7 days)", note: "The same over 7 days.", get: function (d) { return d.automation["7d"].rate; }, pct: true },
    { key: "handoff_rate", title: "Handoff rate", note: "Conversations handed to a person.", get: function (d) { return d.handoff_rate; }, pct: true },
    { key: "first_reply", title: "First human reply (median, business minutes)", note: "From handoff to the first agent reply.", get: function (d) { return d.first_reply_minutes_median; }, pct: false },
    { key: "sla", title: "SLA attainment", note: "Handoffs without a breached SLA clock.", get: function (d) { return d.sla_attainment; }, pct: true },
    { key: "csat", title: "CSAT", note: "Thumbs up among the feedback on answers.", get: function (d) { return d.csat; }, pct: true },
  ];

  function $(id) {
    return document.getElementById(id);
  }

  function fmt(v, pct) {
    if (v == null) return "–";
    return pct ? Math.round(v * 1000) / 10 + "%" : String(Math.round(v * 10) / 10);
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
      r.setAttribute("data-day", d.day);
      r.setAttribute("data-value", v == null ? "" : String(v));
      var tip = document.createElementNS(SVG, "title");
      tip.textContent = d.day + ": " + fmt(v, chart.pct);
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
      t.textContent = d.day;
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

  function load() {
    var q = query();
    $("csv").href = "/api/agent/metrics.csv?" + q;
    fetch("/api/agent/metrics?" + q, { credentials: "same-origin" })
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
          h.textContent = c.title;
          var big = document.createElement("div");
          big.className = "big";
          big.textContent = fmt(summaryValue(m.summary, c), c.pct);
          var p = document.createElement("p");
          p.textContent = c.note;
          card.appendChild(h);
          card.appendChild(big);
          card.appendChild(p);
          card.appendChild(bars(m.days, c));
          main.appendChild(card);
        });
      })
      .catch(function (e) {
        $("error").hidden = false;
        $("error").textContent = "The metrics could not be loaded: " + e.message;
      });
  }

  ["days", "lang", "channel"].forEach(function (id) {
    $(id).addEventListener("change", load);
  });
  load();
})();
