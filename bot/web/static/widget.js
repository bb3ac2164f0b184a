/*!
 * Ledgerly Helpdesk chat widget. Plain JavaScript, no build step; the server fills in its strings
 * (strings.json) and its markdown renderer (markdown-it and DOMPurify, vendored).
 *
 * Embed with one tag; the API base is derived from this script's own URL:
 *   <script src="https://HOST/widget.js" data-lang="zh|en" data-title="Help"></script>
 * For a signed-in customer, the invoice app adds data-customer-token="<HS256 JWT>" (or calls
 * LedgerlyHelpdesk.identify(token)): their conversations then follow them to any device.
 *
 * Each conversation is read and written with the token the desk returns with it (kept in
 * localStorage with its id); every message carries a client id, reused on retry, so a retry after a
 * dropped response is answered from what was stored and never stored twice.
 *
 * Everything is drawn inside a Shadow DOM, so the host page's CSS cannot reach it.
 * Untrusted text (customer, agent and bot messages) is either set with textContent or,
 * for bot answers, rendered by markdown-it with raw HTML off and sanitised by DOMPurify to a small,
 * fixed set of tags (static/markdown.js, shared with the console).
 *
 * window.LedgerlyHelpdesk: open(), close(), toggle(), setLanguage('zh'|'en'), identify(token),
 * renderMarkdown(text).
 */
(function () {
  "use strict";

  // reply kinds, handoff statuses and reasons: filled in by the server from the Python enums
  var VOCAB = /*VOCABULARY*/ null;
  var ST = VOCAB.handoffStatus;
  var CONV = VOCAB.conversationStatus;
  var KIND = VOCAB.replyKind;

  if (window.LedgerlyHelpdesk && window.LedgerlyHelpdesk.__loaded) return;

  var script =
    document.currentScript ||
    (function () {
      var all = document.querySelectorAll('script[src*="widget.js"]');
      return all[all.length - 1] || null;
    })();
  var scriptSrc = script && script.src ? script.src : location.href;
  var BASE = new URL(".", scriptSrc).href; // https://HOST/ (or a sub-path the service is mounted on)
  var MAX_CHARS = 2000;
  var STORE_KEY = "ledgerly-helpdesk:" + new URL(BASE).origin + new URL(BASE).pathname;

  // ---------------------------------------------------------------------------------- strings

  // every UI string, both languages: filled in by the server from strings.json, the table the console reads too
  var TABLE = /*STRINGS*/ null;
  var STRINGS = { en: TABLE.en.widget, zh: TABLE.zh.widget };

  function pickLang(value) {
    var v = String(value || "").toLowerCase();
    if (v.indexOf("zh") === 0) return "zh";
    if (v.indexOf("en") === 0) return "en";
    return null;
  }

  var explicitLang = script ? pickLang(script.getAttribute("data-lang")) : null;
  var customTitle = script ? script.getAttribute("data-title") : null;
  var customerToken = script ? script.getAttribute("data-customer-token") : null;

  function newClientId() {
    if (window.crypto && typeof window.crypto.randomUUID === "function") return window.crypto.randomUUID();
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map
      .call(bytes, function (b) {
        return ("0" + b.toString(16)).slice(-2);
      })
      .join("");
  }

  function browserLang() {
    var list = (navigator.languages && navigator.languages.length ? navigator.languages : [navigator.language]) || [];
    return pickLang(list[0]) === "zh" ? "zh" : "en";
  }

  // ---------------------------------------------------------------------------- safe markdown

  // bot answers: markdown-it (raw HTML off, http(s) links only) then DOMPurify, the renderer the
  // console uses too (static/markdown.js, inlined here by the server)
  var MARKDOWN = /*MARKDOWN*/ null;

  /** Markdown to sanitised HTML: paragraphs, **bold**, *italic*, `code`, lists, http(s) links. */
  function renderMarkdown(text) {
    return MARKDOWN.render(text);
  }

  // ---------------------------------------------------------------------------------- storage

  function loadStored() {
    try {
      var v = JSON.parse(window.localStorage.getItem(STORE_KEY) || "null");
      return v && typeof v === "object" ? v : {};
    } catch (e) {
      return {};
    }
  }

  function saveStored(patch) {
    try {
      var v = loadStored();
      for (var k in patch) if (Object.prototype.hasOwnProperty.call(patch, k)) v[k] = patch[k];
      window.localStorage.setItem(STORE_KEY, JSON.stringify(v));
    } catch (e) {
      /* storage blocked: the conversation just won't survive a reload */
    }
  }

  function clearStored() {
    try {
      window.localStorage.removeItem(STORE_KEY);
    } catch (e) {
      /* ignore */
    }
  }

  function sessionFlag(name, value) {
    try {
      if (value === undefined) return window.sessionStorage.getItem(STORE_KEY + ":" + name) === "1";
      window.sessionStorage.setItem(STORE_KEY + ":" + name, value ? "1" : "0");
    } catch (e) {
      return false;
    }
  }

  // -------------------------------------------------------------------------------------- API

  function api(path) {
    return new URL("api/" + path, BASE).href;
  }

  function request(method, path, body) {
    var ctrl = typeof AbortController === "function" ? new AbortController() : null;
    var timer = ctrl
      ? setTimeout(function () {
          ctrl.abort();
        }, 30000)
      : null;
    var headers = body ? { "Content-Type": "application/json" } : {};
    if (state.token) headers["X-Conversation-Token"] = state.token;
    if (customerToken) headers["X-Customer-Token"] = customerToken;
    return fetch(api(path), {
      method: method,
      headers: headers,
      body: body ? JSON.stringify(body) : undefined,
      credentials: "omit",
      signal: ctrl ? ctrl.signal : undefined,
    }).then(
      function (r) {
        if (timer) clearTimeout(timer);
        return r
          .json()
          .catch(function () {
            return null;
          })
          .then(function (data) {
            if (!r.ok) {
              var e = (data && data.error) || {};
              var err = new Error(e.message || "HTTP " + r.status);
              err.status = r.status;
              err.code = e.code || "http_error";
              err.details = e.details || [];
              err.retryAfter = Number(r.headers.get("Retry-After") || 0);
              throw err;
            }
            return data;
          });
      },
      function (e) {
        if (timer) clearTimeout(timer);
        var err = new Error("network error");
        err.status = 0;
        err.code = "network";
        err.cause = e;
        throw err;
      }
    );
  }

  // ------------------------------------------------------------------------------------ icons

  var ICON = {
    chat:
      '<svg viewBox="0 0 24 24" width="28" height="28" aria-hidden="true"><path fill="currentColor" d="M12 3C6.5 3 2 6.8 2 11.5c0 2.4 1.2 4.6 3.1 6.1-.2 1.4-.9 2.7-2 3.7 2.2.1 4.2-.6 5.7-1.8 1 .3 2.1.5 3.2.5 5.5 0 10-3.8 10-8.5S17.5 3 12 3z"/></svg>',
    down:
      '<svg viewBox="0 0 24 24" width="26" height="26" aria-hidden="true"><path fill="none" stroke="currentColor" stroke-width="2.4" stroke-linecap="round" stroke-linejoin="round" d="M6 9l6 6 6-6"/></svg>',
    close:
      '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path fill="none" stroke="currentColor" stroke-width="2.2" stroke-linecap="round" d="M6 6l12 12M18 6L6 18"/></svg>',
    person:
      '<svg viewBox="0 0 24 24" width="15" height="15" aria-hidden="true"><path fill="currentColor" d="M12 12a4.5 4.5 0 1 0 0-9 4.5 4.5 0 0 0 0 9zm0 2c-4.4 0-8 2.2-8 5v2h16v-2c0-2.8-3.6-5-8-5z"/></svg>',
    send:
      '<svg viewBox="0 0 24 24" width="18" height="18" aria-hidden="true"><path fill="currentColor" d="M3.4 20.4l17.4-7.5a1 1 0 0 0 0-1.8L3.4 3.6a.9.9 0 0 0-1.3 1l1.8 6.1 9.1 1.3-9.1 1.3-1.8 6.1a.9.9 0 0 0 1.3 1z"/></svg>',
    book:
      '<svg viewBox="0 0 24 24" width="13" height="13" aria-hidden="true"><path fill="currentColor" d="M6 2h11a2 2 0 0 1 2 2v14H7a1 1 0 0 0 0 2h12v2H7a3 3 0 0 1-3-3V4a2 2 0 0 1 2-2z"/></svg>',
    clock:
      '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><circle cx="12" cy="12" r="9" fill="none" stroke="currentColor" stroke-width="2"/><path fill="none" stroke="currentColor" stroke-width="2" stroke-linecap="round" d="M12 7v5l3 2"/></svg>',
    alert:
      '<svg viewBox="0 0 24 24" width="16" height="16" aria-hidden="true"><path fill="currentColor" d="M12 2 1 21h22L12 2zm1 15h-2v-2h2v2zm0-4h-2V9h2v4z"/></svg>',
    check:
      '<svg viewBox="0 0 24 24" width="14" height="14" aria-hidden="true"><path fill="none" stroke="currentColor" stroke-width="2.6" stroke-linecap="round" stroke-linejoin="round" d="M5 12.5l4.5 4.5L19 7.5"/></svg>',
  };

  // -------------------------------------------------------------------------------------- CSS

  var CSS = [
    ":host{all:initial}",
    "*,*::before,*::after{box-sizing:border-box}",
    ".root{--brand:#1f4fd1;--brand-dark:#173ea8;--ink:#172033;--muted:#5f6b7e;--line:#e3e7ee;--bg:#f6f7fb;",
    "font-family:-apple-system,BlinkMacSystemFont,'Segoe UI',Roboto,'Helvetica Neue',Arial,'PingFang SC','Hiragino Sans GB','Microsoft YaHei','Noto Sans CJK SC','Noto Sans SC',sans-serif;",
    "font-size:14px;line-height:1.5;color:var(--ink);-webkit-font-smoothing:antialiased}",
    "button{font:inherit;cursor:pointer}",
    "button:disabled{cursor:default}",
    ".launcher{position:fixed;right:24px;bottom:24px;width:60px;height:60px;border-radius:50%;border:0;",
    "background:var(--brand);color:#fff;display:flex;align-items:center;justify-content:center;",
    "box-shadow:0 6px 20px rgba(23,62,168,.35),0 2px 6px rgba(0,0,0,.12);z-index:2147483000;transition:transform .15s ease,background .15s}",
    ".launcher:hover{background:var(--brand-dark);transform:scale(1.05)}",
    ".launcher:focus-visible,.btn:focus-visible,.hbtn:focus-visible,.chip:focus-visible,.send:focus-visible{outline:3px solid #9db5ff;outline-offset:2px}",
    ".badge{position:absolute;top:-2px;right:-2px;min-width:20px;height:20px;padding:0 6px;border-radius:10px;background:#e5484d;",
    "color:#fff;font-size:12px;font-weight:700;line-height:20px;text-align:center;border:2px solid #fff}",
    ".panel{position:fixed;right:24px;bottom:96px;width:400px;height:min(660px,calc(100vh - 116px));background:#fff;",
    "border-radius:16px;box-shadow:0 12px 48px rgba(16,24,40,.22),0 2px 8px rgba(16,24,40,.08);display:flex;flex-direction:column;",
    "overflow:hidden;z-index:2147483000;opacity:0;transform:translateY(12px) scale(.98);transform-origin:bottom right;",
    "pointer-events:none;visibility:hidden;transition:opacity .18s ease,transform .18s ease,visibility 0s linear .18s}",
    ".panel.open{opacity:1;transform:none;pointer-events:auto;visibility:visible;transition:opacity .18s ease,transform .18s ease}",
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;height:100vh;border-radius:0}.launcher.open{display:none}}",
    "@media (prefers-reduced-motion:reduce){.panel,.launcher{transition:none}}",
    ".header{background:linear-gradient(135deg,#1f4fd1,#2c6df0);color:#fff;padding:14px 10px 14px 14px;display:flex;align-items:center;gap:10px;flex:none}",
    ".avatar{width:36px;height:36px;border-radius:50%;background:rgba(255,255,255,.18);display:flex;align-items:center;justify-content:center;",
    "font-weight:700;font-size:17px;flex:none;border:1px solid rgba(255,255,255,.35)}",
    ".htext{flex:1;min-width:0}",
    ".title{font-size:15.5px;font-weight:650;margin:0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".subtitle{font-size:12px;opacity:.85;margin:1px 0 0;white-space:nowrap;overflow:hidden;text-overflow:ellipsis}",
    ".hbtn{border:1px solid rgba(255,255,255,.45);background:rgba(255,255,255,.12);color:#fff;border-radius:999px;",
    "padding:6px 11px;font-size:12.5px;font-weight:600;display:inline-flex;align-items:center;gap:5px;white-space:nowrap;flex:none}",
    ".hbtn:hover:not(:disabled){background:rgba(255,255,255,.24)}",
    ".hbtn:disabled{opacity:.6}",
    ".hclose{border:0;background:transparent;color:#fff;width:32px;height:32px;border-radius:8px;display:flex;align-items:center;justify-content:center;flex:none}",
    ".hclose:hover{background:rgba(255,255,255,.16)}",
    ".banner{flex:none;display:none;align-items:center;gap:8px;padding:9px 16px;font-size:13px;font-weight:500;border-bottom:1px solid var(--line)}",
    ".banner.show{display:flex}",
    ".email-box{flex:none;display:none;padding:6px 16px 8px;font-size:12.5px;border-bottom:1px solid var(--line)}",
    ".email-box.show{display:block}",
    ".email-box.waiting{background:#fff8e6;color:#7a5200}",
    ".email-box.joined{background:#e9f8ef;color:#146c3a}",
    ".email-box .email{display:flex;flex-wrap:wrap;gap:6px;align-items:center}",
    ".email-box form{display:flex;flex-wrap:wrap;gap:6px;align-items:flex-end;width:100%}",
    ".email-box label{display:flex;flex-direction:column;gap:4px;flex:1;min-width:160px}",
    ".email-box input{font:inherit;padding:5px 8px;border:1px solid var(--line);border-radius:6px}",
    ".email-box button{font:inherit;padding:5px 10px;border-radius:6px;border:1px solid currentColor;background:transparent;color:inherit;cursor:pointer}",
    ".email-box button.link{border:0;text-decoration:underline;padding:0}",
    ".email-box .email-note{flex-basis:100%;font-size:12px}",
    ".banner.waiting{background:#fff8e6;color:#7a5200}",
    ".banner.joined{background:#e9f8ef;color:#146c3a}",
    ".banner .mini{width:22px;height:22px;border-radius:50%;background:#1c8a4b;color:#fff;font-size:12px;font-weight:700;display:flex;align-items:center;justify-content:center}",
    ".log{position:relative;flex:1;overflow-y:auto;background:var(--bg);padding:16px 14px 8px;display:flex;flex-direction:column;gap:10px;scroll-behavior:smooth}",
    ".row{display:flex;flex-direction:column;max-width:88%}",
    ".row.customer{align-self:flex-end;align-items:flex-end}",
    ".row.bot,.row.agent,.row.system{align-self:flex-start;align-items:flex-start}",
    ".row.system{align-self:center;max-width:92%}",
    ".mini::before{content:attr(data-initial)}",
    ".who{font-size:11.5px;color:var(--muted);margin:0 4px 3px;display:flex;align-items:center;gap:6px}",
    ".who .mini{width:18px;height:18px;border-radius:50%;background:#1c8a4b;color:#fff;font-size:10px;font-weight:700;display:inline-flex;align-items:center;justify-content:center}",
    ".bubble{padding:9px 13px;border-radius:16px;word-wrap:break-word;overflow-wrap:anywhere}",
    ".customer .bubble{background:var(--brand);color:#fff;border-bottom-right-radius:5px;white-space:pre-wrap}",
    ".customer.pending .bubble{opacity:.65}",
    ".bot .bubble{background:#fff;border:1px solid var(--line);border-bottom-left-radius:5px}",
    ".agent .bubble{background:#eef8f1;border:1px solid #cfe9d8;border-bottom-left-radius:5px;white-space:pre-wrap}",
    ".system .bubble{background:transparent;color:var(--muted);font-size:12.5px;text-align:center;padding:2px 8px}",
    ".md p{margin:0 0 8px}.md p:last-child{margin-bottom:0}",
    ".md ol,.md ul{margin:4px 0 8px;padding-left:20px}.md li{margin:2px 0}.md li>ol,.md li>ul{margin:4px 0}",
    ".md code{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:12.5px;background:#eef1f6;padding:1px 5px;border-radius:4px}",
    ".md a{color:var(--brand);text-decoration:underline}",
    ".md .md-h{font-size:14.5px}",
    ".md pre{margin:4px 0 8px;padding:8px 10px;background:#eef1f6;border-radius:6px;overflow-x:auto}.md pre code{padding:0;background:none}",
    ".md blockquote{margin:4px 0 8px;padding:0 0 0 10px;border-left:3px solid var(--line);color:var(--muted)}",
    ".md hr{border:0;border-top:1px solid var(--line);margin:8px 0}",
    ".source{margin-top:8px;padding-top:7px;border-top:1px solid var(--line);font-size:12px;color:var(--muted);display:flex;gap:5px;align-items:flex-start}",
    ".source svg{margin-top:3px;flex:none}",
    ".source b{color:var(--ink);font-weight:600}",
    ".feedback{display:flex;align-items:center;gap:6px;margin:6px 2px 0;font-size:12.5px;color:var(--muted);flex-wrap:wrap}",
    ".fb{border:1px solid var(--line);background:#fff;color:var(--ink);border-radius:999px;padding:3px 12px;font-size:12.5px}",
    ".fb:hover:not(:disabled){border-color:var(--brand);color:var(--brand)}",
    ".thanks{display:inline-flex;align-items:center;gap:5px;color:#146c3a}",
    ".chips{display:flex;flex-direction:column;gap:6px;margin-top:8px;align-items:flex-start}",
    ".chip{border:1px solid #c4d3fb;background:#fff;color:var(--brand);border-radius:12px;padding:7px 12px;text-align:left;font-size:13px;font-weight:500;max-width:100%}",
    ".chip:hover:not(:disabled){background:#eef3ff}",
    ".chip:disabled{color:#8a94a6;border-color:var(--line);background:#fafbfc}",
    ".chip.picked{color:#fff;background:var(--brand);border-color:var(--brand);opacity:.85}",
    ".chip.none{color:var(--muted);border-style:dashed}",
    ".typing{align-self:flex-start;background:#fff;border:1px solid var(--line);border-radius:16px;border-bottom-left-radius:5px;padding:12px 14px;display:flex;gap:4px}",
    ".typing span{width:7px;height:7px;border-radius:50%;background:#9aa5b8;animation:blink 1.2s infinite ease-in-out}",
    ".typing span:nth-child(2){animation-delay:.15s}.typing span:nth-child(3){animation-delay:.3s}",
    "@keyframes blink{0%,80%,100%{opacity:.3;transform:translateY(0)}40%{opacity:1;transform:translateY(-2px)}}",
    ".error{flex:none;display:none;align-items:flex-start;gap:8px;margin:0;padding:8px 14px;background:#fdecec;color:#a1262b;font-size:12.5px;border-top:1px solid #f6caca}",
    ".error.show{display:flex}",
    ".error svg{flex:none;margin-top:1px}",
    ".error .msg{flex:1}",
    ".error button{border:0;background:transparent;color:#a1262b;font-weight:650;text-decoration:underline;padding:0;font-size:12.5px}",
    ".composer{flex:none;border-top:1px solid var(--line);padding:10px 10px 8px 14px;display:flex;gap:8px;align-items:flex-end;background:#fff}",
    "textarea{flex:1;resize:none;border:0;outline:0;font:inherit;color:var(--ink);line-height:1.45;max-height:120px;min-height:22px;padding:6px 0;background:transparent}",
    "textarea::placeholder{color:#98a2b3}",
    ".send{width:36px;height:36px;border-radius:10px;border:0;background:var(--brand);color:#fff;display:flex;align-items:center;justify-content:center;flex:none}",
    ".send:disabled{background:#c9d3e6}",
    ".meta{flex:none;display:flex;justify-content:space-between;align-items:center;padding:0 14px 8px;font-size:11px;color:#98a2b3;background:#fff}",
    ".counter.over{color:#c2292e;font-weight:600}",
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}",
  ].join("\n");

  // ---------------------------------------------------------------------------------- helpers

  function el(tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text != null) e.textContent = text;
    return e;
  }

  function fmt(s, vars) {
    return s.replace(/\{(\w+)\}/g, function (m, k) {
      return vars && vars[k] != null ? String(vars[k]) : m;
    });
  }

  function initial(name) {
    var n = String(name || "?").trim();
    return n ? Array.from(n)[0].toUpperCase() : "?";
  }

  /** A round avatar with the initial drawn by CSS, so it is not part of the text. */
  function avatarOf(name) {
    var a = el("span", "mini");
    a.setAttribute("data-initial", initial(name));
    a.setAttribute("aria-hidden", "true");
    return a;
  }

  function timeTitle(iso) {
    if (!iso) return "";
    var d = new Date(iso);
    return isNaN(d.getTime()) ? "" : d.toLocaleString();
  }

  // ------------------------------------------------------------------------------------ state

  var state = {
    lang: explicitLang || browserLang(),
    open: false,
    conversationId: null,
    token: null, // the conversation's credential, returned with every reply
    lastId: 0,
    status: "bot",
    handoff: null,
    messages: [], // {id, role, text, author, meta, feedback, created_at}
    byId: {},
    sending: false,
    unread: 0,
    pending: null, // {text, el}
    lastFailed: null,
  };
  var es = null;
  var esRetry = 0;
  var esTimer = null;
  var ui = {};

  function t(key, vars) {
    var table = STRINGS[state.lang] || STRINGS.en;
    return fmt(table[key] != null ? table[key] : STRINGS.en[key], vars);
  }

  // --------------------------------------------------------------------------------------- UI

  function build() {
    var host = document.createElement("ledgerly-helpdesk");
    host.setAttribute(
      "style",
      "all:initial !important;position:fixed !important;z-index:2147483000 !important;right:0 !important;bottom:0 !important;width:0 !important;height:0 !important;display:block !important"
    );
    var root = host.attachShadow({ mode: "open" });
    var style = document.createElement("style");
    style.textContent = CSS;
    root.appendChild(style);

    var wrap = el("div", "root");
    root.appendChild(wrap);

    var panel = el("div", "panel");
    panel.setAttribute("role", "dialog");
    panel.setAttribute("aria-modal", "false");
    panel.id = "lh-panel";

    var header = el("div", "header");
    var avatar = el("div", "avatar", "L");
    avatar.setAttribute("aria-hidden", "true");
    var htext = el("div", "htext");
    var title = el("h2", "title");
    title.id = "lh-title";
    panel.setAttribute("aria-labelledby", "lh-title");
    var subtitle = el("p", "subtitle");
    htext.appendChild(title);
    htext.appendChild(subtitle);
    var human = el("button", "hbtn");
    human.type = "button";
    human.setAttribute("data-action", "talk-to-person");
    var humanIcon = el("span");
    humanIcon.innerHTML = ICON.person;
    humanIcon.style.display = "inline-flex";
    var humanLabel = el("span");
    human.appendChild(humanIcon);
    human.appendChild(humanLabel);
    var closeBtn = el("button", "hclose");
    closeBtn.type = "button";
    closeBtn.innerHTML = ICON.close;
    header.appendChild(avatar);
    header.appendChild(htext);
    header.appendChild(human);
    header.appendChild(closeBtn);

    var banner = el("div", "banner");
    banner.setAttribute("role", "status");
    banner.setAttribute("data-part", "handoff-state");
    var emailBox = el("div", "email-box");

    var log = el("div", "log");
    log.setAttribute("role", "log");
    log.setAttribute("aria-live", "polite");
    log.setAttribute("data-part", "messages");

    var error = el("div", "error");
    error.setAttribute("role", "alert");
    error.setAttribute("data-part", "error");
    var errIcon = el("span");
    errIcon.innerHTML = ICON.alert;
    var errMsg = el("span", "msg");
    var errRetry = el("button");
    errRetry.type = "button";
    var errDismiss = el("button");
    errDismiss.type = "button";
    errDismiss.innerHTML = ICON.close;
    error.appendChild(errIcon);
    error.appendChild(errMsg);
    error.appendChild(errRetry);
    error.appendChild(errDismiss);

    var composer = el("form", "composer");
    composer.setAttribute("novalidate", "");
    var input = document.createElement("textarea");
    input.rows = 1;
    input.maxLength = MAX_CHARS;
    input.setAttribute("data-part", "input");
    var send = el("button", "send");
    send.type = "submit";
    send.innerHTML = ICON.send;
    composer.appendChild(input);
    composer.appendChild(send);

    var meta = el("div", "meta");
    var footer = el("span");
    var counter = el("span", "counter");
    meta.appendChild(footer);
    meta.appendChild(counter);

    panel.appendChild(header);
    panel.appendChild(banner);
    panel.appendChild(emailBox);
    panel.appendChild(log);
    panel.appendChild(error);
    panel.appendChild(composer);
    panel.appendChild(meta);

    var launcher = el("button", "launcher");
    launcher.type = "button";
    launcher.setAttribute("aria-controls", "lh-panel");
    launcher.setAttribute("data-part", "launcher");
    var launcherIcon = el("span");
    launcherIcon.style.display = "inline-flex";
    var badge = el("span", "badge");
    badge.hidden = true;
    launcher.appendChild(launcherIcon);
    launcher.appendChild(badge);

    wrap.appendChild(panel);
    wrap.appendChild(launcher);

    ui = {
      host: host,
      root: root,
      wrap: wrap,
      panel: panel,
      title: title,
      subtitle: subtitle,
      human: human,
      humanLabel: humanLabel,
      closeBtn: closeBtn,
      banner: banner,
      emailBox: emailBox,
      log: log,
      error: error,
      errMsg: errMsg,
      errRetry: errRetry,
      errDismiss: errDismiss,
      composer: composer,
      input: input,
      send: send,
      footer: footer,
      counter: counter,
      launcher: launcher,
      launcherIcon: launcherIcon,
      badge: badge,
      welcome: null,
      typing: null,
    };

    launcher.addEventListener("click", function () {
      setOpen(!state.open);
    });
    closeBtn.addEventListener("click", function () {
      setOpen(false);
      launcher.focus();
    });
    human.addEventListener("click", function () {
      if (state.status === CONV.HANDOFF || state.sending) return;
      send_(t("talkToPersonMessage"), null, { restoreTo: null });
    });
    composer.addEventListener("submit", function (e) {
      e.preventDefault();
      submitInput();
    });
    input.addEventListener("keydown", function (e) {
      if (e.key === "Enter" && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
        e.preventDefault();
        submitInput();
      }
    });
    input.addEventListener("input", function () {
      autoGrow();
      updateComposer();
    });
    panel.addEventListener("keydown", function (e) {
      if (e.key === "Escape") {
        setOpen(false);
        launcher.focus();
      }
    });
    errDismiss.addEventListener("click", hideError);

    document.body.appendChild(host);
    applyStrings();
    renderAll();
  }

  function applyStrings() {
    ui.wrap.setAttribute("lang", state.lang === "zh" ? "zh-CN" : "en");
    ui.title.textContent = customTitle || t("title");
    var a = state.availability;
    ui.subtitle.textContent = !a ? t("subtitle") : a.open ? t("teamOnline") : a.back_text ? t("teamAway", { when: a.back_text }) : t("subtitle");
    ui.humanLabel.textContent = t("talkToPerson");
    ui.closeBtn.setAttribute("aria-label", t("close"));
    ui.closeBtn.title = t("close");
    ui.input.placeholder = t("placeholder");
    ui.input.setAttribute("aria-label", t("placeholder"));
    ui.send.setAttribute("aria-label", t("send"));
    ui.send.title = t("send");
    ui.footer.textContent = t("footer");
    ui.errDismiss.setAttribute("aria-label", t("dismiss"));
    ui.errRetry.textContent = t("retry");
    updateLauncher();
    updateBanner();
    updateComposer();
    if (ui.errorKey) showError(ui.errorKey, ui.errorVars, ui.errorRetry);
  }

  function updateLauncher() {
    ui.launcher.setAttribute("aria-label", state.open ? t("launcherClose") : t("launcherOpen"));
    ui.launcher.setAttribute("aria-expanded", state.open ? "true" : "false");
    ui.launcher.classList.toggle("open", state.open);
    ui.launcherIcon.innerHTML = state.open ? ICON.down : ICON.chat;
    ui.badge.hidden = state.open || state.unread === 0;
    ui.badge.textContent = state.unread > 9 ? "9+" : String(state.unread);
    ui.badge.setAttribute("aria-label", t("newMessages", { count: state.unread }));
  }

  function setOpen(open) {
    state.open = !!open;
    ui.panel.classList.toggle("open", state.open);
    sessionFlag("open", state.open);
    if (state.open) {
      state.unread = 0;
      scrollToEnd(true);
      setTimeout(function () {
        ui.input.focus();
      }, 50);
    }
    updateLauncher();
  }

  function autoGrow() {
    ui.input.style.height = "auto";
    ui.input.style.height = Math.min(ui.input.scrollHeight, 120) + "px";
  }

  function updateComposer() {
    var n = ui.input.value.length;
    ui.counter.textContent = n > MAX_CHARS - 200 ? t("counter", { count: n }) : "";
    ui.counter.classList.toggle("over", n >= MAX_CHARS);
    ui.send.disabled = state.sending || !ui.input.value.trim();
    var waiting = state.status === CONV.HANDOFF;
    ui.human.disabled = waiting || state.sending;
    ui.human.title = waiting ? t("alreadyWaiting") : t("talkToPerson");
  }

  function updateBanner() {
    var b = ui.banner;
    var h = state.handoff;
    b.textContent = "";
    b.className = "banner";
    if (state.status !== CONV.HANDOFF && !h) {
      ui.emailBox.textContent = "";
      ui.emailBox.className = "email-box";
      return;
    }
    if (h && h.status === ST.CLAIMED && h.agent) {
      b.appendChild(avatarOf(h.agent));
      b.appendChild(el("span", null, t("joined", { agent: h.agent })));
      b.className = "banner show joined";
      b.setAttribute("data-state", "joined");
    } else {
      var icon = el("span");
      icon.innerHTML = ICON.clock;
      icon.style.display = "inline-flex";
      b.appendChild(icon);
      b.appendChild(el("span", "wait-text", waitText(h && h.wait)));
      b.className = "banner show waiting";
      b.setAttribute("data-state", h && h.wait && !h.wait.open ? "away" : "waiting");
    }
    ui.emailBox.textContent = "";
    ui.emailBox.className = "email-box";
    if (h) {
      ui.emailBox.appendChild(emailPart(h));
      ui.emailBox.className = "email-box show " + (h.status === ST.CLAIMED && h.agent ? "joined" : "waiting");
    }
  }

  // the honest wait: the queue while the team works, its return after hours (never a fixed promise)
  function waitText(w) {
    if (!w) return t("waitingSoon");
    if (!w.open) return w.back_text ? t("waitingClosed", { when: w.back_text }) : t("waitingSoon");
    if (w.typical_minutes) return t("waitingTypical", { position: w.position, minutes: w.typical_minutes });
    return t("waitingPosition", { position: w.position });
  }

  // after a handoff: an optional address, so that a reply the customer does not see here reaches them
  function emailPart(h) {
    var box = el("div", "email");
    box.setAttribute("data-part", "email");
    if (h.email) {
      box.appendChild(el("span", null, state.emailNote || t("emailSaved")));
      var tr = el("button", "link", t("emailTranscript"));
      tr.type = "button";
      tr.setAttribute("data-action", "transcript");
      tr.onclick = function () {
        request("POST", "conversations/" + encodeURIComponent(state.conversationId) + "/transcript").then(
          function () {
            state.emailNote = t("transcriptSent");
            updateBanner();
          },
          function () {
            showError("errorSend");
          }
        );
      };
      box.appendChild(tr);
      return box;
    }
    var form = el("form");
    form.noValidate = true; // our own message, in the widget's language
    var label = el("label", null, t("emailAsk"));
    var input = el("input");
    input.type = "email";
    input.autocomplete = "email";
    input.maxLength = 254;
    input.placeholder = t("emailPlaceholder");
    input.setAttribute("data-part", "email-input");
    label.appendChild(input);
    var save = el("button", null, t("emailSave"));
    save.type = "submit";
    form.appendChild(label);
    form.appendChild(save);
    var note = el("span", "email-note");
    form.appendChild(note);
    form.onsubmit = function (ev) {
      ev.preventDefault();
      var value = input.value.trim();
      if (!value || !input.checkValidity()) {
        note.textContent = t("emailInvalid");
        return;
      }
      request("POST", "conversations/" + encodeURIComponent(state.conversationId) + "/contact", { email: value }).then(
        function () {
          if (state.handoff) state.handoff.email = true;
          updateBanner();
        },
        function (err) {
          note.textContent = err.status === 422 ? t("emailInvalid") : t("errorSend");
        }
      );
    };
    box.appendChild(form);
    return box;
  }

  // the header says whether people are there, not only the assistant
  function loadAvailability() {
    request("GET", "availability?lang=" + state.lang).then(
      function (a) {
        state.availability = a;
        applyStrings();
      },
      function () {
        /* unknown: the plain subtitle stays */
      }
    );
  }

  var errorRetryFn = null;
  function showError(key, vars, retry) {
    ui.errorKey = key;
    ui.errorVars = vars;
    ui.errorRetry = retry || null;
    errorRetryFn = retry || null;
    ui.errMsg.textContent = t(key, vars);
    ui.errRetry.hidden = !retry;
    ui.errRetry.onclick = function () {
      var fn = errorRetryFn;
      hideError();
      if (fn) fn();
    };
    ui.error.classList.add("show");
  }

  function hideError() {
    ui.errorKey = null;
    ui.errorRetry = null;
    errorRetryFn = null;
    ui.error.classList.remove("show");
  }

  function nearBottom() {
    var l = ui.log;
    return l.scrollHeight - l.scrollTop - l.clientHeight < 120;
  }

  /** A long answer is shown from its start (with the question above it), not scrolled past. */
  function revealAnswer(question, answer) {
    var l = ui.log;
    requestAnimationFrame(function () {
      var q = question && question._el;
      var a = answer && answer._el;
      if (q && a && a.offsetHeight > l.clientHeight * 0.6) l.scrollTop = Math.max(0, q.offsetTop - 12);
      else l.scrollTop = l.scrollHeight;
    });
  }

  function scrollToEnd(force) {
    if (!force && !nearBottom()) return;
    var l = ui.log;
    requestAnimationFrame(function () {
      l.scrollTop = l.scrollHeight;
    });
  }

  // --------------------------------------------------------------------------------- messages

  function renderAll() {
    ui.log.textContent = "";
    ui.welcome = renderWelcome();
    ui.log.appendChild(ui.welcome);
    for (var i = 0; i < state.messages.length; i++) {
      var m = state.messages[i];
      m._el = renderMessage(m);
      ui.log.appendChild(m._el);
    }
    if (state.pending && state.pending.el) {
      state.pending.el = renderPending(state.pending.text);
      ui.log.appendChild(state.pending.el);
    }
    if (state.sending && ui.typing) ui.log.appendChild(ui.typing);
    refreshChoices();
    scrollToEnd(true);
  }

  function renderWelcome() {
    var row = el("div", "row bot welcome");
    row.appendChild(el("div", "who", t("bot")));
    var b = el("div", "bubble", t("welcome"));
    row.appendChild(b);
    return row;
  }

  function renderPending(text) {
    var row = el("div", "row customer pending");
    row.appendChild(el("div", "bubble", text));
    return row;
  }

  function renderMessage(m) {
    var role = m.role === "customer" || m.role === "agent" || m.role === "system" ? m.role : "bot";
    var row = el("div", "row " + role);
    row.setAttribute("data-role", role);
    if (m.id != null) row.setAttribute("data-id", String(m.id));
    row.title = timeTitle(m.created_at);
    var meta = m.meta || {};

    if (role === "customer") {
      row.appendChild(el("div", "bubble", m.text));
      return row;
    }
    if (role === "system") {
      row.appendChild(el("div", "bubble", m.text));
      return row;
    }
    if (role === "agent") {
      var who = el("div", "who");
      who.appendChild(avatarOf(m.author));
      who.appendChild(el("span", null, m.author || t("agent")));
      row.appendChild(who);
      row.appendChild(el("div", "bubble", m.text)); // agents write plain text: shown as typed
      return row;
    }

    // bot
    row.appendChild(el("div", "who", t("bot")));
    var bubble = el("div", "bubble md");
    bubble.innerHTML = renderMarkdown(m.text); // sanitised: a fixed set of tags, http(s) links
    row.appendChild(bubble);
    var kind = meta.kind;
    if (kind === KIND.ANSWER) {
      var sources = Array.isArray(meta.sources) ? meta.sources : [];
      if (sources.length) {
        var src = el("div", "source");
        src.setAttribute("data-part", "source");
        var icon = el("span");
        icon.innerHTML = ICON.book;
        src.appendChild(icon);
        var label = el("span");
        label.appendChild(document.createTextNode(t("source") + " "));
        label.appendChild(
          el(
            "b",
            null,
            sources
              .map(function (s) {
                return s && s.title ? s.title : "";
              })
              .filter(Boolean)
              .join(" · ")
          )
        );
        src.appendChild(label);
        bubble.appendChild(src);
      }
      if (m.id != null) row.appendChild(renderFeedback(m));
    } else if (kind === KIND.INCIDENT_NOTE || kind === KIND.INCIDENT_RESOLVED) {
      // a known incident's status note, or the notice that it is fixed: the same answer for everyone
      var tag = el("div", "source", t(kind === KIND.INCIDENT_NOTE ? "incidentNote" : "incidentResolved"));
      tag.setAttribute("data-part", kind === KIND.INCIDENT_NOTE ? "incident-note" : "incident-resolved");
      bubble.insertBefore(tag, bubble.firstChild);
      row.setAttribute("data-kind", kind);
    } else if (kind === KIND.CLARIFY) {
      var chips = el("div", "chips");
      chips.setAttribute("data-part", "suggestions");
      var suggestions = Array.isArray(meta.suggestions) ? meta.suggestions : [];
      suggestions.forEach(function (s) {
        if (!s || !s.id) return;
        var c = el("button", "chip", s.title || s.id);
        c.type = "button";
        c.setAttribute("data-choice", s.id);
        c.addEventListener("click", function () {
          pick(row, c, s.title || s.id, s.id);
        });
        chips.appendChild(c);
      });
      var none = el("button", "chip none", t("noneOfThese"));
      none.type = "button";
      none.setAttribute("data-choice", "none");
      none.addEventListener("click", function () {
        pick(row, none, t("noneOfTheseMessage"), "none");
      });
      chips.appendChild(none);
      row.appendChild(chips);
      row.setAttribute("data-clarify", "1");
    }
    return row;
  }

  function renderFeedback(m) {
    var box = el("div", "feedback");
    box.setAttribute("data-part", "feedback");
    if (m.feedback === "yes" || m.feedback === "no" || m.feedback === "wrong") {
      var thanks = el("span", "thanks");
      var ic = el("span");
      ic.innerHTML = ICON.check;
      ic.style.display = "inline-flex";
      thanks.appendChild(ic);
      var key = m.feedback === "yes" ? "thanksYes" : m.feedback === "no" ? "thanksNo" : "thanksWrong";
      thanks.appendChild(el("span", null, t(key)));
      box.appendChild(thanks);
      return box;
    }
    box.appendChild(el("span", null, t("helpful")));
    [
      ["yes", true],
      ["no", false],
    ].forEach(function (pair) {
      var b = el("button", "fb", t(pair[0]));
      b.type = "button";
      b.setAttribute("data-feedback", pair[0]);
      b.addEventListener("click", function () {
        giveFeedback(m, pair[1], box);
      });
      box.appendChild(b);
    });
    var wrong = el("button", "fb", t("notAsked"));
    wrong.type = "button";
    wrong.setAttribute("data-feedback", "wrong");
    wrong.setAttribute("data-action", "not-what-i-asked");
    wrong.addEventListener("click", function () {
      notWhatIAsked(m, box);
    });
    box.appendChild(wrong);
    return box;
  }

  function giveFeedback(m, helpful, box) {
    var buttons = box.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    request("POST", "messages/" + encodeURIComponent(m.id) + "/feedback", { helpful: helpful }).then(
      function (saved) {
        m.feedback = (saved && saved.feedback) || (helpful ? "yes" : "no");
        var fresh = renderFeedback(m);
        box.replaceWith(fresh);
        hideError();
      },
      function () {
        for (var i = 0; i < buttons.length; i++) buttons[i].disabled = false;
        showError("errorFeedback");
      }
    );
  }

  /** The feedback row now shown for m (it is redrawn on resume or a language switch). */
  function feedbackBox(m, fallback) {
    var box = m._el && m._el.querySelector('[data-part="feedback"]');
    return box || fallback;
  }

  /** "Not what I asked": the answer is marked wrong and the conversation goes to a person at once. */
  function notWhatIAsked(m, box) {
    var buttons = box.querySelectorAll("button");
    for (var i = 0; i < buttons.length; i++) buttons[i].disabled = true;
    hideError();
    request("POST", "messages/" + encodeURIComponent(m.id) + "/not-what-i-asked").then(
      function (res) {
        m.feedback = "wrong";
        feedbackBox(m, box).replaceWith(renderFeedback(m));
        showReply(res);
        scrollToEnd(true);
      },
      function () {
        var current = feedbackBox(m, box).querySelectorAll("button");
        for (var i = 0; i < current.length; i++) current[i].disabled = false;
        showError("errorNotAsked");
      }
    );
  }

  function pick(row, button, text, choice) {
    if (state.sending) return;
    var chips = row.querySelectorAll(".chip");
    for (var i = 0; i < chips.length; i++) chips[i].disabled = true;
    button.classList.add("picked");
    send_(text, choice, {
      restoreTo: null,
      onFail: function () {
        button.classList.remove("picked");
        refreshChoices();
      },
    });
  }

  /** Only the newest clarify question, still unanswered, keeps its buttons active. */
  function refreshChoices() {
    var last = state.messages[state.messages.length - 1];
    var rows = ui.log.querySelectorAll('[data-clarify="1"]');
    for (var i = 0; i < rows.length; i++) {
      var active =
        last &&
        last._el === rows[i] &&
        state.status !== CONV.HANDOFF &&
        !state.sending &&
        !(state.pending && state.pending.el);
      var chips = rows[i].querySelectorAll(".chip");
      for (var j = 0; j < chips.length; j++) {
        if (!chips[j].classList.contains("picked")) chips[j].disabled = !active;
        else chips[j].disabled = true;
      }
    }
  }

  function insertSorted(m) {
    // messages are kept in id order; an element without id (pending) stays last
    var idx = state.messages.length;
    while (idx > 0 && state.messages[idx - 1].id > m.id) idx--;
    state.messages.splice(idx, 0, m);
    var next = state.messages[idx + 1];
    var before = next ? next._el : (state.pending && state.pending.el) || ui.typing || null;
    if (before && before.parentNode !== ui.log) before = null;
    ui.log.insertBefore(m._el, before);
  }

  /** Add a message once: every path (POST reply, transcript, live stream) goes through here. */
  function upsert(raw, opts) {
    if (!raw || raw.id == null) return false;
    var id = Number(raw.id);
    if (state.byId[id]) {
      var known = state.byId[id];
      if (raw.feedback && raw.feedback !== known.feedback) {
        known.feedback = raw.feedback;
        var box = known._el && known._el.querySelector('[data-part="feedback"]');
        if (box) box.replaceWith(renderFeedback(known));
      }
      return false;
    }
    var m = {
      id: id,
      role: raw.role,
      text: String(raw.text == null ? "" : raw.text),
      author: raw.author || null,
      meta: raw.meta || {},
      feedback: raw.feedback || null,
      created_at: raw.created_at || null,
    };
    state.byId[id] = m;
    // a known incident's note: its resolution notice will come on the live stream (the newest decides)
    if (m.role === "bot" && (m.meta.kind === KIND.INCIDENT_NOTE || m.meta.kind === KIND.INCIDENT_RESOLVED)) {
      if (!state.incidentAt || id > state.incidentAt) {
        state.incidentAt = id;
        state.incident = m.meta.kind === KIND.INCIDENT_NOTE;
      }
    }
    var pend = state.pending;
    if (m.role === "customer" && pend && pend.el && pend.text === m.text.trim()) {
      // the live stream delivered the message we are sending: reuse its bubble
      m._el = pend.el;
      m._el.classList.remove("pending");
      m._el.setAttribute("data-id", String(id));
      m._el.setAttribute("data-role", "customer");
      pend.el = null;
      if (m._el.parentNode) m._el.parentNode.removeChild(m._el);
    } else {
      m._el = renderMessage(m);
    }
    insertSorted(m);
    if (id > state.lastId) {
      state.lastId = id;
      saveStored({ last_id: id });
    }
    if (!state.open && m.role === "agent" && !(opts && opts.quiet)) {
      state.unread += 1;
      updateLauncher();
    }
    refreshChoices();
    if (!(opts && opts.noScroll)) scrollToEnd(m.role === "customer");
    return true;
  }

  function applyState(s) {
    if (!s) return;
    var before = state.handoff;
    state.status = s.status || "bot";
    state.handoff = s.handoff || null;
    if (before && !state.handoff && state.status !== CONV.HANDOFF) {
      // the agent closed the ticket: say so once, locally
      var note = {
        id: null,
        role: "system",
        text: before.agent ? t("resolved", { agent: before.agent }) : t("resolvedNoName"),
      };
      var row = renderMessage(note);
      row.setAttribute("data-part", "resolved-note");
      ui.log.appendChild(row);
      scrollToEnd(false);
      disconnect();
    }
    updateBanner();
    updateComposer();
    refreshChoices();
    if (state.status === CONV.HANDOFF || state.incident) connect();
  }

  // ------------------------------------------------------------------------------ live stream

  function connect() {
    if (es || !state.conversationId || typeof EventSource !== "function") return;
    clearTimeout(esTimer);
    var url = api(
      "conversations/" +
        encodeURIComponent(state.conversationId) +
        "/events?after=" +
        state.lastId +
        "&token=" +
        encodeURIComponent(state.token || "")
    );
    var source = new EventSource(url);
    es = source;
    source.addEventListener("open", function () {
      esRetry = 0;
    });
    source.addEventListener("message", function (e) {
      try {
        upsert(JSON.parse(e.data));
      } catch (err) {
        /* ignore a malformed event */
      }
    });
    source.addEventListener("state", function (e) {
      try {
        applyState(JSON.parse(e.data));
      } catch (err) {
        /* ignore */
      }
    });
    source.addEventListener("error", function () {
      // the browser reconnects by itself (with Last-Event-ID) unless the stream is closed for good
      if (source.readyState === 2 && es === source) {
        es = null;
        esRetry = Math.min(esRetry + 1, 6);
        esTimer = setTimeout(function () {
          if (state.status === CONV.HANDOFF || state.incident) resync();
        }, 1000 * Math.pow(2, esRetry));
      }
    });
  }

  function disconnect() {
    clearTimeout(esTimer);
    if (es) {
      es.close();
      es = null;
    }
  }

  /** Load what we missed (or the whole transcript) and resume the stream. */
  function resync(initialLoad) {
    if (!state.conversationId) return Promise.resolve();
    var cid = state.conversationId;
    var after = initialLoad ? 0 : state.lastId;
    return request("GET", "conversations/" + encodeURIComponent(cid) + "/messages?after=" + after).then(
      function (data) {
        if (cid !== state.conversationId) return;
        var seenBefore = Number(loadStored().last_id || 0);
        (data.messages || []).forEach(function (m) {
          upsert(m, { quiet: true });
          if (initialLoad && !state.open && m.role === "agent" && m.id > seenBefore) state.unread += 1;
        });
        updateLauncher();
        applyState({ status: data.status, handoff: data.handoff });
        scrollToEnd(true);
      },
      function (err) {
        if (err.status === 404 || err.status === 401) {
          // the conversation is gone (e.g. a new database) or not ours any more: start afresh
          state.conversationId = null;
          state.token = null;
          clearStored();
          return;
        }
        showError("errorLoad", null, function () {
          resync(initialLoad);
        });
      }
    );
  }

  // --------------------------------------------------------------------------------- sending

  function submitInput() {
    var text = ui.input.value;
    if (!text.trim() || state.sending) return;
    if (text.length > MAX_CHARS) {
      showError("errorTooLong");
      return;
    }
    ui.input.value = "";
    autoGrow();
    send_(text, null, { restoreTo: text });
  }

  function showTyping() {
    if (!ui.typing) {
      ui.typing = el("div", "typing");
      ui.typing.setAttribute("aria-label", t("typing"));
      ui.typing.appendChild(el("span"));
      ui.typing.appendChild(el("span"));
      ui.typing.appendChild(el("span"));
    }
    ui.typing.setAttribute("aria-label", t("typing"));
    ui.log.appendChild(ui.typing);
    scrollToEnd(true);
  }

  function hideTyping() {
    if (ui.typing && ui.typing.parentNode) ui.typing.parentNode.removeChild(ui.typing);
  }

  /**
   * Show the bot's reply of a turn (POST chat or not-what-i-asked) once, like any other message;
   * a handoff reply puts the widget in the waiting state and opens the live stream for the agent.
   */
  function showReply(res) {
    var r = res.reply || {};
    if (res.message_id != null) {
      upsert({
        id: res.message_id,
        role: "bot",
        text: r.text,
        meta: {
          kind: r.kind,
          sources: r.sources || [],
          suggestions: r.suggestions || [],
          confidence: r.confidence,
        },
        feedback: null,
      }, { noScroll: true });
    }
    if (r.kind === KIND.HANDOFF && state.status !== CONV.HANDOFF) {
      applyState({ status: CONV.HANDOFF, handoff: res.handoff || state.handoff || { status: ST.OPEN, agent: null } });
    }
    updateComposer();
    refreshChoices();
    if (state.status === CONV.HANDOFF || state.incident) connect();
  }

  function send_(text, choice, opts) {
    opts = opts || {};
    var trimmed = text.trim();
    hideError();
    state.sending = true;
    var pendingEl = renderPending(trimmed);
    state.pending = { text: trimmed, el: pendingEl };
    ui.log.appendChild(pendingEl);
    if (state.status !== CONV.HANDOFF) showTyping();
    updateComposer();
    refreshChoices();
    scrollToEnd(true);

    // one id per message, kept across retries: the desk stores and answers it once
    opts.clientId = opts.clientId || newClientId();
    var body = {
      message: text,
      conversation_id: state.conversationId,
      lang: null,
      choice: choice || null,
      client_message_id: opts.clientId,
    };
    request("POST", "chat", body).then(
      function (res) {
        hideTyping();
        if (res.conversation_id !== state.conversationId || res.conversation_token !== state.token) {
          var isNew = res.conversation_id !== state.conversationId;
          state.conversationId = res.conversation_id;
          state.token = res.conversation_token;
          saveStored(
            isNew
              ? { conversation_id: res.conversation_id, token: res.conversation_token, last_id: 0 }
              : { token: res.conversation_token }
          );
        }
        // adopts the pending bubble, unless the live stream already delivered this message
        upsert({ id: res.customer_message_id, role: "customer", text: trimmed }, { noScroll: true });
        var pend = state.pending;
        state.pending = null;
        state.sending = false;
        if (pend && pend.el && pend.el.parentNode) pend.el.parentNode.removeChild(pend.el);
        showReply(res);
        revealAnswer(state.byId[res.customer_message_id], state.byId[res.message_id]);
      },
      function (err) {
        var pend = state.pending;
        state.pending = null;
        state.sending = false;
        hideTyping();
        if (pend && pend.el && pend.el.parentNode) pend.el.parentNode.removeChild(pend.el);
        if (opts.restoreTo != null && !ui.input.value) {
          ui.input.value = opts.restoreTo; // keep what the customer typed
          autoGrow();
        }
        if ((err.status === 404 || err.status === 401) && state.conversationId) {
          // the stored conversation no longer exists (or is no longer ours): forget it; the retry starts anew
          state.conversationId = null;
          state.token = null;
          opts.clientId = null;
          clearStored();
        }
        var retry = function () {
          if (opts.restoreTo != null) {
            if (ui.input.value === opts.restoreTo) {
              ui.input.value = "";
              autoGrow();
            }
          }
          send_(text, choice, opts);
        };
        if (err.status === 429) {
          showError("errorBusy", { seconds: Math.max(1, err.retryAfter || 30) }, retry);
        } else if (err.status === 422 && err.code === "invalid_request") {
          var detail = (err.details && err.details[0] && err.details[0].problem) || err.message;
          showError(text.length > MAX_CHARS ? "errorTooLong" : "errorInvalid", { detail: detail });
        } else {
          showError("errorSend", null, retry);
        }
        if (opts.onFail) opts.onFail();
        updateComposer();
        refreshChoices();
      }
    );
  }

  // ------------------------------------------------------------------------------------ start

  function setLanguage(lang) {
    var l = pickLang(lang);
    if (!l) return state.lang;
    state.lang = l;
    if (ui.root) {
      applyStrings();
      renderAll();
    }
    return state.lang;
  }

  // a link from an email ("continue the conversation"): #c=<id>&t=<token>, kept out of server logs
  function adoptLink() {
    var m = /^#c=([0-9a-f]{32})&t=(hc_[A-Za-z0-9_-]+)$/.exec(location.hash || "");
    if (!m) return false;
    saveStored({ conversation_id: m[1], token: m[2], last_id: 0 });
    try {
      history.replaceState(null, "", location.pathname + location.search);
    } catch (e) {
      /* ignore */
    }
    return true;
  }

  function start() {
    build();
    var linked = adoptLink();
    loadAvailability();
    var stored = loadStored();
    if (stored.conversation_id && stored.token) {
      state.conversationId = String(stored.conversation_id);
      state.token = String(stored.token);
      resync(true);
    } else {
      if (stored.conversation_id) clearStored(); // kept by an older widget without its token: unreadable now
      if (customerToken) resumeCustomer();
    }
    if (linked || sessionFlag("open")) setOpen(true);
  }

  // a signed-in customer on a new device (or after clearing storage): continue their latest conversation
  function resumeCustomer() {
    request("GET", "customer/conversations").then(
      function (list) {
        var last = list && list[0];
        if (!last || state.conversationId) return;
        state.conversationId = String(last.conversation_id);
        state.token = String(last.conversation_token);
        saveStored({ conversation_id: state.conversationId, token: state.token, last_id: 0 });
        resync(true);
      },
      function () {
        /* an expired or rejected identity: the customer simply starts a new conversation */
      }
    );
  }

  window.LedgerlyHelpdesk = {
    __loaded: true,
    open: function () {
      if (ui.panel) setOpen(true);
    },
    close: function () {
      if (ui.panel) setOpen(false);
    },
    toggle: function () {
      if (ui.panel) setOpen(!state.open);
    },
    setLanguage: setLanguage,
    identify: function (token) {
      customerToken = token ? String(token) : null;
    },
    get language() {
      return state.lang;
    },
    get conversationId() {
      return state.conversationId;
    },
    renderMarkdown: renderMarkdown,
  };

  if (document.body) start();
  else document.addEventListener("DOMContentLoaded", start);
})();
