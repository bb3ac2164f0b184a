/* The language of the console's own pages (metrics, content gaps): the console's string table
 * (static/strings.json, filled in by bot/web/vocabulary.py) and its language choice, remembered under
 * the console's localStorage key, first from the browser's language. A page calls
 * LedgerlyPageLang(section) and gets {lang(), t(key, vars), reason(key), apply(), set(lang)}; its fixed
 * labels carry data-i18n (text) or data-i18n-aria-label, and a <select id="lang-switch"> switches. */
(function () {
  "use strict";
  var TABLE = /*STRINGS*/ null;
  var LANG_KEY = "ledgerly-console:lang";

  function pick(value) {
    var v = String(value || "").toLowerCase();
    return v.indexOf("zh") === 0 ? "zh" : v.indexOf("en") === 0 ? "en" : null;
  }

  window.LedgerlyPageLang = function (section) {
    var stored = null;
    try {
      stored = pick(window.localStorage.getItem(LANG_KEY));
    } catch (e) {
      /* storage blocked: follow the browser */
    }
    var lang = stored || (pick(navigator.language) === "zh" ? "zh" : "en");

    function t(key, vars) {
      var s = (TABLE[lang] || TABLE.en)[section][key];
      if (s == null) s = TABLE.en[section][key];
      if (s == null) return key;
      return s.replace(/\{(\w+)\}/g, function (m, k) {
        return vars && vars[k] != null ? String(vars[k]) : m;
      });
    }

    function reason(key) {
      var r = (TABLE[lang] || TABLE.en).reason[key] || TABLE.en.reason[key];
      return r ? r[0] : t("reason_" + key);
    }

    function apply() {
      document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
      ["", "aria-label"].forEach(function (attr) {
        var name = "data-i18n" + (attr ? "-" + attr : "");
        Array.prototype.forEach.call(document.querySelectorAll("[" + name + "]"), function (node) {
          if (attr) node.setAttribute(attr, t(node.getAttribute(name)));
          else node.textContent = t(node.getAttribute(name));
        });
      });
      var sw = document.getElementById("lang-switch");
      if (sw) sw.value = lang;
    }

    function set(value) {
      lang = pick(value) || "en";
      try {
        window.localStorage.setItem(LANG_KEY, lang);
      } catch (e) {
        /* not remembered: still switched for this page */
      }
      apply();
    }

    return { lang: function () { return lang; }, t: t, reason: reason, apply: apply, set: set };
  };
})();
