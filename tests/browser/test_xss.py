"""XSS in a real browser: every vector through every place the desk renders untrusted text.

One real ``helpdesk serve`` (its FAQ folder a copy of data/faq plus entries whose answers are the
vectors), Debian's chromium driven by Playwright. The vectors are batched into a few conversations;
each batch travels the whole desk:

    customer message  -> widget bubble (live and reloaded), console queue item, detail question,
                         "why" quote and transcript
    bot answer (FAQ)  -> widget markdown bubble (live and reloaded), console transcript (markdown, by
                         the same renderer); and every vector alone through
                         ``LedgerlyHelpdesk.renderMarkdown`` into the shadow root
    agent reply       -> typed in the console, console transcript, widget bubble (live and reloaded)
    resolution        -> widget bubble, console "resolved" note, similar-ticket question and answer

Execution is detected four ways: ``alert``/``confirm``/``prompt`` are replaced in every frame before
any page script runs (a payload calls ``alert(<its number>)``, so a hit names its vector), Playwright's
``dialog`` event, a MutationObserver on the document and on every shadow root (a patched
``attachShadow``) that flags dangerous elements and attributes the moment they appear, and a final
scan of the whole DOM. Rendered containers are also probed: every element in them gets the events
an inline handler could wait for (mouseover, focus, toggle, error, ...), so an injected handler runs
and is caught instead of waiting for a user's hover. The browser ignores the pages' CSP
(``bypass_csp``): the widget is embedded on host pages that may have none, and a CSP must not hide
markup that the renderer let through. The shipped demo page, with its CSP, renders each vector once
more to show what that CSP stops.

``-s`` prints the number of vectors, render paths and vector x path checks.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from bench.server import running_server
from tests.support import FAQ, chromium, seed_state, server_env

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = pytest.mark.browser

TOKEN = "xss-token"
ACCOUNTS = {"alice": "alice-pass-123"}
VIEWPORT = {"width": 1280, "height": 800}
MESSAGE_BUDGET = 1900  # a customer message holds at most 2,000 characters

expect.set_options(timeout=15_000)


# ------------------------------------------------------------------------------------- vectors


@dataclass(frozen=True)
class Vector:
    num: int
    name: str
    text: str


# "%N" is the vector's number: every payload that runs calls alert(<number>), which names it
_TEMPLATES: list[tuple[str, str]] = [
    ("script tag", "<script>alert(%N)</script>"),
    ("img onerror", "<img src=x onerror=alert(%N)>"),
    ("svg onload", "<svg onload=alert(%N)>"),
    ("script inside svg", "<svg><script>alert(%N)</script></svg>"),
    ("bare javascript: URL", "javascript:alert(%N)"),
    ("markdown link to javascript:", "[click me](javascript:alert(%N))"),
    ("markdown image with javascript:", "![x](javascript:alert(%N))"),
    ("autolink to javascript:", "<javascript:alert(%N)>"),
    ("autolink with a quote breakout", '<https://ok.example/"onmouseover="alert(%N)>'),
    ("markdown link to a data: URL", "[open](data:text/html;base64,%B64)"),
    ("img with a data: svg URL", '<img src="data:image/svg+xml,<svg onload=alert(%N)>">'),
    ("HTML-escaped tags (double decoding)", "&lt;img src=x onerror=alert(%N)&gt;"),
    ("numeric character references", "&#60;script&#62;alert(%N)&#60;/script&#62;"),
    ("unclosed nested tags", "<b><i><u><img src=x onerror=alert(%N)"),
    ("double-quote attribute breakout", '"><img src=x onerror=alert(%N)>'),
    ("single-quote attribute breakout", "'><svg onload=alert(%N)>"),
    ("backtick / template-literal tricks", "`${alert(%N)}` {{constructor.constructor('alert(%N)')()}} ${alert(%N)}"),
    ("iframe srcdoc", '<iframe srcdoc="<script>alert(%N)</script>"></iframe>'),
    ("math/mglyph/style mXSS", "<math><mtext><table><mglyph><style><img src=x onerror=alert(%N)>"),
    ("svg/style namespace confusion", '<svg></p><style><a id="</style><img src=x onerror=alert(%N)>">'),
    ("noscript title mXSS", '<noscript><p title="</noscript><img src=x onerror=alert(%N)>">'),
    ("CSS url(javascript:)", '<div style="background:url(javascript:alert(%N))">x</div>'),
    ("CSS expression()", '<p style="width:expression(alert(%N))">x</p>'),
    ("href with leading spaces", '<a href="  javascript:alert(%N)">x</a>'),
    ("href with tab/newline entities in the scheme", '<a href="jav&#x09;as&#x0A;cript:alert(%N)">x</a>'),
    ("markdown link with a tab in the scheme", "[x](java\tscript:alert(%N))"),
    ("markdown link with a newline in the scheme", "[x](java\nscript:alert(%N))"),
    ("href with a leading control character", '<a href="&#1;javascript:alert(%N)">x</a>'),
    ("unicode-escaped scheme", r"[x](\u006aavascript:alert(%N)) \u003cscript\u003ealert(%N)\u003c/script\u003e"),
    ("entity-encoded scheme in a markdown link", "[x](&#106;avascript:alert(%N))"),
    ("hex-entity scheme in href", '<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;:alert(%N)">x</a>'),
    ("&colon; entity in href", '<a href="javascript&colon;alert(%N)">x</a>'),
    ("uppercase tag and handler", "<IMG SRC=x ONERROR=alert(%N)>"),
    ("mixed-case scheme", "[x](JaVaScRiPt:alert(%N))"),
    ("details open ontoggle", "<details open ontoggle=alert(%N)>"),
    ("body onload", "<body onload=alert(%N)>"),
    ("input autofocus onfocus", "<input autofocus onfocus=alert(%N)>"),
    ("bold-wrapped payload", "**<img src=x onerror=alert(%N)>**"),
    ("code-span-wrapped payload", "`<script>alert(%N)</script>`"),
    ("italic-wrapped payload", "*<svg onload=alert(%N)>*"),
    ("very long payload", "A" * 1200 + "<img src=x onerror=alert(%N)>"),
    ("zero-width characters inside 'javascript' (markdown)", "[x](java\u200bscript:alert(%N)) java\u200dscript:alert(%N)"),
    ("zero-width characters inside 'javascript' (href)", '<a href="java&#8203;script:alert(%N)">x</a><a href="java\u2060script:alert(%N)">y</a>'),
    ("object data javascript:", '<object data="javascript:alert(%N)"></object>'),
    ("embed with a data: URL", '<embed src="data:text/html,<script>alert(%N)</script>">'),
    ("video source onerror", "<video><source onerror=alert(%N)></video>"),
    ("style @import", "<style>@import 'javascript:alert(%N)';</style>"),
    ("marquee onstart", "<marquee onstart=alert(%N)>x</marquee>"),
    ("anchor with onclick", '<a href="https://ok.example/" onclick="alert(%N)">ok</a>'),
    ("markdown link URL with a quote breakout", '[ok](https://ok.example/"onmouseover="alert(%N)")'),
    ("HTML in a markdown link label", "[<img src=x onerror=alert(%N)>](https://ok.example/)"),
    ("script in a markdown link URL", "[**x**](https://ok.example/?q=<script>alert(%N)</script>)"),
    ("bare URL followed by a tag breakout", 'https://ok.example/"><img src=x onerror=alert(%N)>'),
    ("markdown link glued to a bare URL (hover)", "https://aaaaaa[x](https://x/onmouseover=alert(%N)//)"),
    ("markdown link glued to a bare URL (autofocus)", "https://aaaaaa[x](https://x/autofocus/onfocus=alert(%N)//)"),
    ("code span glued to a bare URL", 'https://ok.example/`"onmouseover=alert(%N)//`'),
    ("base href javascript:", '<base href="javascript:alert(%N)//">'),
    ("meta refresh to javascript:", '<meta http-equiv="refresh" content="0;url=javascript:alert(%N)">'),
    ("form button formaction", "<form><button formaction=javascript:alert(%N)>x</button></form>"),
    ("textarea breakout", "</textarea><img src=x onerror=alert(%N)>"),
    ("template element", "<template><img src=x onerror=alert(%N)></template>"),
    ("comment confusion", '<!--<img src="--><img src=x onerror=alert(%N)//">'),
    ("svg xlink:href", '<svg><a xlink:href="javascript:alert(%N)"><text x="20" y="20">x</text></a></svg>'),
    ("fullwidth scheme", "[x](\uff4a\uff41\uff56\uff41\uff53\uff43\uff52\uff49\uff50\uff54:alert(%N)) \uff1cscript\uff1ealert(%N)"),
    ("JS hex escapes", r"\x3cscript\x3ealert(%N)\x3c/script\x3e"),
    ("newline inside a tag", '<img src="x"\nonerror=alert(%N)>'),
    ("nested filter evasion", "<scr<script>ipt>alert(%N)</scr</script>ipt>"),
    ("closing the surrounding containers", "</p></div></code></a></li><img src=x onerror=alert(%N)>"),
    ("payload in markdown list items", "1. <img src=x onerror=alert(%N)>\n- <svg onload=alert(%N)>"),
    ("payload in a markdown heading", "# <svg onload=alert(%N)>"),
    ("vbscript: href", '<a href="vbscript:alert(%N)">x</a>'),
    ("emphasis across a link", '**[x](https://ok.example/?a=**"onmouseover=alert(%N)//)'),
    ("img srcset javascript:", '<img srcset="javascript:alert(%N) 1x">'),
    ("link rel=stylesheet javascript:", '<link rel=stylesheet href="javascript:alert(%N)">'),
    # markdown-it's own syntax: images, titles, reference links, raw HTML blocks in an FAQ answer
    ("markdown image with an onerror breakout in the URL", '![x](https://ok.example/i.png"onerror="alert(%N))'),
    ("markdown image with an onerror breakout in the alt text", '![x" onerror="alert(%N)](https://ok.example/i.png)'),
    ("markdown image with a title breakout", '![x](https://ok.example/i.png "t\\" onerror=\\"alert(%N)")'),
    ("markdown image of a data: URL", "![x](data:image/svg+xml;base64,%B64)"),
    ("markdown link with a title breakout", '[x](https://ok.example/ "t\\" onmouseover=\\"alert(%N)")'),
    ("reference-style link to javascript:", "[click][r%N]\n\n[r%N]: javascript:alert(%N)"),
    ("raw HTML block in the answer", "<div>\n<img src=x onerror=alert(%N)>\n</div>"),
    ("raw HTML link in the answer", '<a href="javascript:alert(%N)">raw link</a>'),
    ("autolink with an entity-encoded scheme", "<&#106;avascript:alert(%N)>"),
]


def _vectors() -> list[Vector]:
    out = []
    for num, (name, template) in enumerate(_TEMPLATES, 1):
        b64 = base64.b64encode(f"<script>alert({num})</script>".encode()).decode()
        out.append(Vector(num, name, template.replace("%B64", b64).replace("%N", str(num))))
    return out


VECTORS = _vectors()
BY_NUM = {v.num: v for v in VECTORS}


def _batches(vectors: list[Vector]) -> list[list[Vector]]:
    """Vectors packed into customer messages (one per line) that fit the message limit."""
    batches: list[list[Vector]] = []
    size = 0
    for v in vectors:
        if batches and size + len(v.text) + 1 <= MESSAGE_BUDGET:
            batches[-1].append(v)
            size += len(v.text) + 1
        else:
            batches.append([v])
            size = len(v.text)
    return batches


BATCHES = _batches(VECTORS)

# One FAQ entry per batch: a real-looking answer, then the batch's vectors as paragraphs. Each entry
# has an English and a Chinese file: the ranking needs an entry's text in both languages, and an
# entry without one is never found, not even by its exact title.
TOPICS = [  # (title, question, first paragraph) in English, then in Chinese
 ("How do I attach a timesheet to an invoice?", "Can I add a timesheet attachment to my invoice?",
  "Open the invoice and choose **More › Attach file**, then upload the timesheet as PDF or XLSX (up to 10 MB). It is attached to the invoice email and shown in the customer portal.",
  "如何在发票上附加工时表？", "我可以在发票上添加工时表附件吗？", "打开发票，选择 **更多 › 附加文件**，然后上传 PDF 或 XLSX 格式的工时表。"),
 ("Can I print invoices on A5 paper?", "How do I change the paper size of printed invoices to A5?",
  "Yes. Go to **Settings › Invoice layout › Paper size** and choose **A5**. New invoices are laid out for A5; issued invoices keep their size.",
  "发票可以用 A5 纸打印吗？", "怎么把发票的纸张大小改成 A5？", "可以。进入 **设置 › 发票版式 › 纸张大小**，选择 **A5**。"),
 ("How do I set a default discount for a customer?", "Can a customer get an automatic discount on every invoice?",
  "Open the customer under **Customers**, click **Edit** and enter a percentage in **Default discount**. Every new invoice for that customer gets the discount as its own line.",
  "怎么给客户设置默认折扣？", "客户的每张发票能自动打折吗？", "在 **客户** 中打开该客户，点击 **编辑**，在 **默认折扣** 中填写百分比。"),
 ("How do I add a QR code for bank transfer to my invoices?", "Can invoices show a payment QR code?",
  "Go to **Settings › Payments › Bank transfer** and tick **Show payment QR code**. The code holds your IBAN, the amount and the invoice number.",
  "怎么在发票上添加银行转账二维码？", "发票可以显示付款二维码吗？", "进入 **设置 › 收款 › 银行转账**，勾选 **显示付款二维码**。"),
 ("How do I hide the product SKU on printed invoices?", "Can I remove article numbers from the invoice PDF?",
  "Go to **Settings › Invoice layout › Columns** and untick **SKU**. The column disappears from the PDF and the email.",
  "怎么在打印的发票上隐藏商品编码？", "发票 PDF 上的货号可以去掉吗？", "进入 **设置 › 发票版式 › 列**，取消勾选 **商品编码**。"),
 ("Can I add a note for the delivery driver on an invoice?", "Where do I write delivery instructions on an invoice?",
  "Yes. On the invoice, open **More › Delivery note** and write the instructions. They are printed above the line items.",
  "可以在发票上给送货司机留言吗？", "发票上的送货说明写在哪里？", "可以。在发票上打开 **更多 › 送货备注** 并填写说明。"),
]


def batch_text(batch: list[Vector]) -> str:
    return "\n".join(v.text for v in batch)


def faq_files(k: int, batch: list[Vector]) -> tuple[str, str, dict[str, str]]:
    """(id, exact English question, {lang: file text}) of the FAQ entry whose answer holds batch k."""
    title, question, lead, title_zh, question_zh, lead_zh = TOPICS[k]
    eid = f"xss-vectors-{k + 1}"
    vectors = "\n\n".join(v.text for v in batch)
    files = {
        lang: f"---\nid: {eid}\nlang: {lang}\nquestions:\n  - {q}\ntags: [test]\n---\n# {t}\n\n{first}\n\n{vectors}\n"
        for lang, t, q, first in (("en", title, question, lead), ("zh", title_zh, question_zh, lead_zh))
    }
    return eid, question, files


# ---------------------------------------------------------------------------- paths and ledger

PATHS = {
    "widget-customer": "(a) widget: the customer's own message, live",
    "widget-customer-reload": "(a) widget: the customer's own message, redrawn from the transcript",
    "console-transcript-customer": "(b) console: the customer's message in the transcript",
    "console-queue-question": "(b) console: the queue item's question",
    "console-detail-question": "(b) console: the detail's question",
    "console-why-question": "(b) console: the question quoted under 'why handed off'",
    "widget-agent": "(c) widget: the agent's reply, live",
    "widget-agent-resolution": "(c) widget: the resolving answer sent to the customer, live",
    "widget-agent-reload": "(c) widget: the agent's messages, redrawn from the transcript",
    "console-transcript-agent": "(c) console: the agent's reply in the transcript",
    "widget-bot-answer": "(d) widget: the bot's FAQ answer as markdown, live",
    "widget-bot-answer-reload": "(d) widget: the bot's FAQ answer as markdown, redrawn from the transcript",
    "render-markdown": "(d) widget: LedgerlyHelpdesk.renderMarkdown(vector) inserted into the shadow root",
    "render-markdown-csp": "(d) shipped demo page with its CSP: renderMarkdown(vector) in the shadow root",
    "console-transcript-bot": "(d) console: the bot's FAQ answer as markdown in the transcript",
    "console-resolved-note": "(e) console: the resolved handoff's answer note",
    "console-similar-question": "(e) console: a similar resolved ticket's question",
    "console-similar-answer": "(e) console: a similar resolved ticket's answer",
}

AS_SHOWN = "ran as rendered, with no user action"
POKED = "ran when its element was hovered, focused or clicked (synthetic events)"
ALERT_NUM = re.compile(r"alert\((\d+)\)|(?:alert|confirm|prompt):(\d+)")


def vectors_named_in(text: str) -> list[int]:
    return sorted({int(a or b) for a, b in ALERT_NUM.findall(text) if int(a or b) in BY_NUM})


@dataclass
class Ledger:
    checked: dict[str, set[int]] = field(default_factory=lambda: {p: set() for p in PATHS})
    findings: list[str] = field(default_factory=list)
    executions: list[str] = field(default_factory=list)
    csp_blocked: list[str] = field(default_factory=list)

    def reached(self, path: str, batch: list[Vector]) -> None:
        self.checked[path].update(v.num for v in batch)

    def problems(self, path: str, batch: list[Vector], problems: list[str], executed: bool = False) -> None:
        for p in problems:
            nums = vectors_named_in(p)
            named = "; ".join(f"#{n} {BY_NUM[n].name} {BY_NUM[n].text[:90]!r}" for n in nums) or (
                f"one of #{batch[0].num}-#{batch[-1].num}" if batch else "(none named)"
            )
            line = f"[{path}] {PATHS.get(path, 'the whole document and its shadow roots')} -- vector {named} -- {p[:400]}"
            (self.executions if executed else self.findings).append(line)

    @property
    def cells(self) -> int:
        return sum(len(s) for s in self.checked.values())


# --------------------------------------------------------------------------- in-page detection

INIT_JS = r"""
(() => {
  if (window.__xss) return;
  const X = { hits: [], problems: [], csp: [], armed: false, roots: [document], baseline: new WeakSet() };
  window.__xss = X;
  const sink = (kind) => function () {
    const msg = kind + ":" + Array.prototype.map.call(arguments, String).join(",");
    X.hits.push(msg);
    try { if (window.top !== window && window.top.__xss) window.top.__xss.hits.push(msg + " (in a frame)"); } catch (e) {}
    return kind === "confirm" ? false : kind === "prompt" ? null : undefined;
  };
  window.alert = sink("alert");
  window.confirm = sink("confirm");
  window.prompt = sink("prompt");
  document.addEventListener("securitypolicyviolation", (e) => {
    X.csp.push(e.violatedDirective + " " + (e.sample || e.blockedURI || ""));
  }, true);

  const DANGER = new Set(["script", "iframe", "frame", "frameset", "object", "embed", "applet", "base", "meta",
    "link", "img", "image", "picture", "video", "audio", "source", "track", "details", "marquee", "math",
    "template", "noscript", "xmp", "style", "portal", "body", "html", "head", "title", "plaintext", "noembed",
    "noframes", "param", "canvas", "foreignobject"]);
  const SVG_OK = new Set(["svg", "path", "circle"]);  // the widget's own icons
  const URL_ATTRS = new Set(["href", "src", "xlink:href", "action", "formaction", "data", "poster", "background",
    "srcset", "ping", "lowsrc", "dynsrc", "codebase", "cite", "longdesc", "usemap", "manifest", "icon", "classid",
    "archive", "content"]);
  const SCHEME = /^(javascript|vbscript|data|livescript|mocha):/;
  const INVISIBLE = /[\u0000-\u0020\u007f-\u00a0\u00ad\u180e\u200b-\u200f\u2028\u2029\u2060-\u2064\ufeff]/g;

  function snippet(el) {
    return (el.outerHTML || "").slice(0, 300);
  }
  X.check = function (el, where, always) {
    const out = [];
    if (!el || el.nodeType !== 1 || (!always && X.baseline.has(el))) return out;
    const tag = el.localName.toLowerCase();
    const ns = el.namespaceURI || "";
    if (DANGER.has(tag) && !ns.endsWith("/svg")) out.push(where + ": <" + tag + "> element: " + snippet(el));
    else if (ns.endsWith("/svg") && !SVG_OK.has(tag)) out.push(where + ": svg <" + tag + "> element: " + snippet(el));
    else if (ns.endsWith("/MathML")) out.push(where + ": MathML <" + tag + "> element: " + snippet(el));
    for (const a of Array.from(el.attributes)) {
      const name = a.name.toLowerCase();
      const value = String(a.value);
      if (name.startsWith("on")) out.push(where + ": event handler attribute " + name + "=" + JSON.stringify(value) + " on " + snippet(el));
      else if (name === "srcdoc") out.push(where + ": srcdoc attribute on " + snippet(el));
      else if (URL_ATTRS.has(name) && (name !== "content" || tag === "meta") &&
               SCHEME.test(value.replace(INVISIBLE, "").toLowerCase().replace(name === "content" ? /^.*?url=/ : /^$/, ""))) {
        out.push(where + ": " + name + "=" + JSON.stringify(value) + " on " + snippet(el));
      } else if (name === "style" && /url\s*\(|expression\s*\(|javascript:|@import|behavior|binding/i.test(value)) {
        out.push(where + ": style=" + JSON.stringify(value) + " on " + snippet(el));
      }
    }
    return out;
  };

  function onMutations(records) {
    if (!X.armed) return;
    for (const r of records) {
      if (r.type === "attributes") {
        X.problems.push(...X.check(r.target, "attribute set", true));
        continue;
      }
      for (const n of r.addedNodes) {
        if (n.nodeType !== 1) continue;
        X.problems.push(...X.check(n, "element added"));
        for (const d of n.querySelectorAll("*")) X.problems.push(...X.check(d, "element added"));
      }
    }
  }
  function observe(root) {
    new MutationObserver(onMutations).observe(root, { childList: true, subtree: true, attributes: true });
  }
  observe(document);
  const attach = Element.prototype.attachShadow;
  Element.prototype.attachShadow = function (init) {
    const root = attach.call(this, init);
    X.roots.push(root);
    observe(root);
    return root;
  };

  X.all = function () {
    const els = [];
    for (const r of X.roots) els.push(...r.querySelectorAll("*"));
    return els;
  };
  X.arm = function () {
    for (const el of X.all()) X.baseline.add(el);
    X.armed = true;
  };
  X.scan = function (where) {
    const out = [];
    for (const el of X.all()) out.push(...X.check(el, where));
    return out;
  };
  X.q = function (sel) {
    for (const r of X.roots) {
      const el = r.querySelector(sel);
      if (el) return el;
    }
    return null;
  };
  X.text = function (sel, expected) {
    const el = X.q(sel);
    if (!el) return ["nothing matches " + sel];
    const out = [];
    if (el.children.length) out.push(sel + " holds elements, not text: " + el.innerHTML.slice(0, 300));
    if (expected !== null && el.textContent !== expected)
      out.push(sel + " shows " + JSON.stringify(el.textContent.slice(0, 200)) + ", not the text sent " + JSON.stringify(expected.slice(0, 200)));
    return out;
  };
  // what the markdown renderer (static/markdown.js) may produce: a fixed set of tags, http(s) links, nothing else
  const MD_TAGS = { P: ["class"], BR: [], STRONG: [], EM: [], S: [], CODE: [], PRE: [], BLOCKQUOTE: [], HR: [],
    OL: ["start"], UL: [], LI: [], A: ["href", "target", "rel"] };
  X.markdownProblems = function (root, where) {
    const out = [];
    for (const el of root.querySelectorAll("*")) {
      if (el.closest('[data-part="source"]')) continue;
      const allowed = MD_TAGS[el.tagName];
      if (!allowed || el.namespaceURI !== "http://www.w3.org/1999/xhtml") {
        out.push(where + ": markdown produced <" + el.localName + ">: " + snippet(el));
        continue;
      }
      for (const a of Array.from(el.attributes)) {
        const ok = allowed.includes(a.name) &&
          (a.name !== "href" || /^https?:\/\//i.test(a.value)) &&
          (a.name !== "class" || a.value === "md-h") &&
          (a.name !== "start" || /^\d+$/.test(a.value)) &&
          (a.name !== "target" || a.value === "_blank") &&
          (a.name !== "rel" || a.value === "noopener noreferrer nofollow");
        if (!ok) out.push(where + ": markdown produced attribute " + a.name + "=" + JSON.stringify(a.value) + " on " + snippet(el));
      }
    }
    return out;
  };
  X.markdown = function (sel) {
    const el = X.q(sel);
    return el ? X.markdownProblems(el, sel) : ["nothing matches " + sel];
  };

  // fire what an inline handler could be waiting for, on the container and everything in it
  const EVENTS = ["mouseover", "mouseenter", "mousemove", "mousedown", "mouseup", "click", "dblclick", "contextmenu",
    "pointerover", "pointerenter", "pointerdown", "pointerup", "focus", "focusin", "blur", "focusout", "animationstart",
    "animationend", "transitionend", "toggle", "beforetoggle", "load", "error", "scroll", "scrollend", "wheel",
    "input", "change", "keydown", "keyup", "copy", "paste", "drag", "dragstart", "drop", "touchstart", "start",
    "begin", "end", "loadstart", "canplay", "play", "select", "submit", "reset", "invalid", "search", "resize"];
  const stop = (e) => e.preventDefault();
  X.probe = function (sel) {
    const root = typeof sel === "string" ? X.q(sel) : sel;
    if (!root) return 0;
    const targets = [root, ...root.querySelectorAll("*")];
    for (const t of targets) {
      t.addEventListener("click", stop);
      for (const type of EVENTS) {
        try { t.dispatchEvent(new Event(type, { bubbles: false, cancelable: true })); } catch (e) {}
      }
      try { if (typeof t.focus === "function") t.focus({ preventScroll: true }); } catch (e) {}
      t.removeEventListener("click", stop);
    }
    if (document.activeElement && document.activeElement.blur) document.activeElement.blur();
    return targets.length;
  };
  // the page's own elements (the static page, the widget's or console's frame) are the baseline;
  // messages are drawn after DOMContentLoaded, from fetched data
  document.addEventListener("DOMContentLoaded", () => X.arm(), { once: true });
  X.take = function () {
    const out = { hits: X.hits.splice(0), problems: X.problems.splice(0), csp: X.csp.splice(0) };
    return out;
  };
})();
"""


class Page:
    """A Playwright page with the detection installed, and a log of native dialogs and errors."""

    def __init__(self, browser: Any, bypass_csp: bool = True) -> None:
        self.context = browser.new_context(locale="en-US", viewport=VIEWPORT, bypass_csp=bypass_csp)
        self.context.add_init_script(INIT_JS)
        self.page = self.context.new_page()
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        self.page.on("dialog", self._dialog)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def _dialog(self, d: Any) -> None:
        self.dialogs.append(f"{d.type}:{d.message}")
        d.dismiss()

    def js(self, expression: str, arg: Any = None) -> Any:
        return self.page.evaluate(expression, arg)

    def text(self, sel: str, expected: str | None) -> list[str]:
        return list(self.js("([s, e]) => __xss.text(s, e)", [sel, expected]))

    def markdown(self, sel: str) -> list[str]:
        return list(self.js("s => __xss.markdown(s)", sel))

    def probe(self, sel: str) -> None:
        self.js("s => __xss.probe(s)", sel)

    def collect(self, ledger: Ledger, path: str, batch: list[Vector], when: str = AS_SHOWN) -> None:
        """Everything the detection saw since the last call, charged to ``path`` (vectors named by number)."""
        self.page.wait_for_timeout(50)  # let mutation observers and queued handlers run
        seen = self.js("() => __xss.take()")
        ledger.problems(path, batch, seen["problems"])
        ledger.problems(path, batch, [f"{when}: {h}" for h in seen["hits"] + self.dialogs], executed=True)
        ledger.csp_blocked.extend(f"[{path}] {c}" for c in seen["csp"])
        self.dialogs.clear()

    def close(self) -> None:
        self.context.close()


def check_text(p: Page, ledger: Ledger, path: str, batch: list[Vector], sel: str, expected: str | None) -> None:
    """``sel`` shows ``expected`` as text, holds no element, and nothing in it runs when poked."""
    ledger.problems(path, batch, p.text(sel, expected))
    p.collect(ledger, path, batch)
    p.probe(sel)
    p.collect(ledger, path, batch, POKED)
    ledger.reached(path, batch)


def check_markdown(p: Page, ledger: Ledger, path: str, batch: list[Vector], sel: str) -> None:
    """``sel`` holds only renderMarkdown's fixed tags and http(s) links, and nothing in it runs when poked."""
    ledger.problems(path, batch, p.markdown(sel))
    p.collect(ledger, path, batch)
    p.probe(sel)
    p.collect(ledger, path, batch, POKED)
    ledger.reached(path, batch)


def scan(p: Page, ledger: Ledger, path: str, batch: list[Vector]) -> None:
    """The whole document and every shadow root: nothing dangerous appeared since the page was armed."""
    where = f"page-scan after {path}"
    ledger.problems(where, batch, list(p.js("w => __xss.scan(w)", "page scan")))
    p.collect(ledger, where, batch)


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def desk(tmp_path_factory: pytest.TempPathFactory, shipped_index: Path) -> Iterator[str]:
    root = tmp_path_factory.mktemp("xss")
    data = root / "state"
    data.mkdir()
    seed_state(data, shipped_index)
    faq = root / "faq"
    shutil.copytree(FAQ, faq)
    for k, batch in enumerate(BATCHES):
        eid, _, files = faq_files(k, batch)
        for lang, text in files.items():
            (faq / lang / f"{eid}.md").write_text(text, encoding="utf-8")
    [pinned] = sorted((data / "calibration").glob("*.json"))
    env = server_env(HELPDESK_CONSOLE_ACCOUNTS=json.dumps(ACCOUNTS), HELPDESK_CALIBRATION_FILE=str(pinned))
    with running_server(data, faq, token=TOKEN, **env) as base:
        yield base


@pytest.fixture(scope="module")
def browser(desk: str) -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture()
def api(desk: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=desk, timeout=30, headers={"Authorization": f"Bearer {TOKEN}"}) as c:
        yield c


# ------------------------------------------------------------------------------------- helpers


def open_widget(p: Page, base: str) -> None:
    p.page.goto(f"{base}/")
    launcher = p.page.locator('[data-part="launcher"]')
    expect(launcher).to_be_visible()
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()
    expect(p.page.locator('[data-part="input"]')).to_be_visible()


def send(p: Page, text: str) -> None:
    """Type ``text`` into the widget and send it; wait until the desk has answered it."""
    bots = p.page.locator(".row.bot[data-id]")
    before = bots.count()
    box = p.page.locator('[data-part="input"]')
    box.fill(text)
    assert box.input_value() == text, "the widget's input did not take the whole message"
    box.press("Enter")
    expect(bots).to_have_count(before + 1)


def conversation_id(p: Page) -> str:
    cid = p.js("window.LedgerlyHelpdesk.conversationId")
    assert cid, "the widget has no conversation"
    return str(cid)


def transcript(api: httpx.Client, cid: str) -> dict[str, Any]:
    r = api.get(f"/api/conversations/{cid}/messages")
    assert r.status_code == 200, r.text
    return dict(r.json())


def active_handoff(api: httpx.Client, cid: str) -> dict[str, Any]:
    found = [h for h in api.get("/api/agent/handoffs").json() if h["conversation_id"] == cid]
    assert found, f"no active handoff for conversation {cid}"
    return dict(found[0])


def sign_in(p: Page, base: str) -> None:
    p.page.goto(f"{base}/console")
    p.page.locator("#username").fill("alice")
    p.page.locator("#password").fill(ACCOUNTS["alice"])
    p.page.locator("#signin-button").click()
    expect(p.page.locator("#me-name")).to_have_text("alice")
    expect(p.page.locator("#live")).to_have_text("Live")


def reopen(p: Page) -> None:
    p.page.reload()
    launcher = p.page.locator('[data-part="launcher"]')
    expect(launcher).to_be_visible()
    if launcher.get_attribute("aria-expanded") != "true":
        launcher.click()


def row(role: str, mid: int) -> str:
    return f'.row.{role}[data-id="{mid}"] .bubble'


def msg(role: str, mid: int) -> str:
    return f'#transcript .msg.{role}[data-id="{mid}"] .mtext'


# ---------------------------------------------------------------------------------------- test


@dataclass
class Conversation:
    k: int
    batch: list[Vector]
    page: Page
    cid: str = ""
    hid: int = 0
    question: str = ""
    bot_answer_id: int = 0
    customer_id: int = 0
    agent_ids: list[int] = field(default_factory=list)


def test_xss_vectors_stay_inert_on_every_render_path(browser: Any, desk: str, api: httpx.Client) -> None:
    started = time.monotonic()
    assert len(VECTORS) >= 40 and len(BATCHES) <= len(TOPICS)
    ledger = Ledger()

    agent = Page(browser)
    sign_in(agent, desk)

    # every vector alone through the widget's markdown renderer, in the shadow root (CSP ignored, then enforced)
    for path, bypass in (("render-markdown", True), ("render-markdown-csp", False)):
        page = Page(browser, bypass_csp=bypass)
        open_widget(page, desk)
        render_each_vector(page, ledger, path)
        scan(page, ledger, path, VECTORS)
        page.close()

    conversations = []
    for k, batch in enumerate(BATCHES):
        c = Conversation(k, batch, Page(browser))
        customer_turn(c, ledger, desk, api)
        agent_turn(c, ledger, agent, api)
        conversations.append(c)

    for c in conversations:
        reloaded_widget(c, ledger, api)
        c.page.close()

    for c in conversations:
        resolved_in_console(c, ledger, agent, api)
    scan(agent, ledger, "console-similar-answer", VECTORS)
    assert agent.errors == [], agent.errors
    agent.close()

    elapsed = time.monotonic() - started
    ledger.executions = list(dict.fromkeys(ledger.executions))
    ledger.findings = list(dict.fromkeys(ledger.findings))
    missing = {p: sorted(set(BY_NUM) - seen) for p, seen in ledger.checked.items() if seen != set(BY_NUM)}
    print(
        f"\nXSS: {len(VECTORS)} vectors x {len(PATHS)} render paths = {ledger.cells} checks "
        f"({len(BATCHES)} conversations) in {elapsed:.0f} s; executions: {len(ledger.executions)}, "
        f"unsafe markup findings: {len(ledger.findings)}, CSP-blocked attempts on the shipped demo page: "
        f"{len(ledger.csp_blocked)}"
    )
    report = ledger.executions + ledger.findings
    for line in report:
        print("  " + line)
    assert not missing, f"vectors that never reached a path: {missing}"
    assert not report, f"{len(ledger.executions)} executions and {len(ledger.findings)} unsafe markup findings:\n" + "\n".join(report)


def render_each_vector(p: Page, ledger: Ledger, path: str) -> None:
    """renderMarkdown(vector) for each vector, inserted into a bot-like bubble inside the shadow root."""
    p.js(
        """texts => {
          const log = document.querySelector('ledgerly-helpdesk').shadowRoot.querySelector('[data-part="messages"]');
          texts.forEach(([num, text]) => {
            const row = document.createElement('div');
            row.className = 'row bot';
            const bubble = document.createElement('div');
            bubble.className = 'bubble md';
            bubble.id = 'xss-md-' + num;
            bubble.innerHTML = window.LedgerlyHelpdesk.renderMarkdown(text);
            row.appendChild(bubble);
            log.appendChild(row);
          });
        }""",
        [[v.num, v.text] for v in VECTORS],
    )
    p.page.wait_for_timeout(300)  # images would fail to load, animations start, autofocus run
    p.collect(ledger, path, VECTORS)  # anything that ran or appeared on insertion
    for v in VECTORS:
        check_markdown(p, ledger, path, [v], f"#xss-md-{v.num}")


def customer_turn(c: Conversation, ledger: Ledger, base: str, api: httpx.Client) -> None:
    """The FAQ answer holding the batch, then the batch itself as a message that goes to a person."""
    p = c.page
    open_widget(p, base)
    eid, question, _ = faq_files(c.k, c.batch)

    send(p, question)
    cid = conversation_id(p)
    last = transcript(api, cid)["messages"][-1]
    if last["meta"].get("kind") == "clarify" and eid in [s["id"] for s in last["meta"].get("suggestions", [])]:
        bots = p.page.locator(".row.bot[data-id]")
        before = bots.count()
        p.page.locator(f'.row.bot[data-id="{last["id"]}"] [data-choice="{eid}"]').click()
        expect(bots).to_have_count(before + 1)
        last = transcript(api, cid)["messages"][-1]
    assert last["meta"].get("kind") == "answer" and last["meta"]["sources"][0]["id"] == eid, (
        f"the bot did not answer {question!r} with {eid}: {last['meta']}"
    )
    c.bot_answer_id = last["id"]
    expect(p.page.locator(f'{row("bot", c.bot_answer_id)} [data-part="source"]')).to_be_visible()
    check_markdown(p, ledger, "widget-bot-answer", c.batch, row("bot", c.bot_answer_id))

    text = batch_text(c.batch)
    send(p, text)
    if transcript(api, cid)["status"] != "handoff":
        p.page.locator('[data-action="talk-to-person"]').click()
        expect(p.page.locator('[data-part="handoff-state"]')).to_be_visible()
    messages = transcript(api, cid)["messages"]
    stored = [m for m in messages if m["role"] == "customer" and m["id"] > c.bot_answer_id][0]
    assert stored["text"] == text.strip(), "the desk changed the customer's message"
    c.cid, c.customer_id, c.question = cid, stored["id"], stored["text"]
    check_text(p, ledger, "widget-customer", c.batch, row("customer", c.customer_id), c.question)
    handoff = active_handoff(api, cid)
    assert handoff["question"] == c.question, handoff
    c.hid = handoff["id"]
    scan(p, ledger, "widget-customer", c.batch)


def agent_turn(c: Conversation, ledger: Ledger, agent: Page, api: httpx.Client) -> None:
    """The agent sees the handoff, replies with the batch and resolves with it; the customer sees both live."""
    a, batch, text = agent.page, c.batch, batch_text(c.batch)
    item = f'.qitem[data-handoff="{c.hid}"]'
    expect(a.locator(item)).to_be_visible()
    check_text(agent, ledger, "console-queue-question", batch, f"{item} .qq", c.question)
    a.locator(item).click()
    expect(a.locator("#detail-question")).to_be_visible()
    expect(a.locator(msg("customer", c.customer_id))).to_be_visible()
    check_text(agent, ledger, "console-detail-question", batch, "#detail-question", c.question)
    check_text(agent, ledger, "console-why-question", batch, "#why-question", c.question)
    check_text(agent, ledger, "console-transcript-customer", batch, msg("customer", c.customer_id), c.question)
    # the bot's answer is markdown in the console too, drawn by the widget's renderer
    expect(a.locator(f"{msg('bot', c.bot_answer_id)} strong").first).to_be_visible()
    check_markdown(agent, ledger, "console-transcript-bot", batch, msg("bot", c.bot_answer_id))

    a.locator("#reply-text").fill(text)
    a.locator("#reply-send").click()
    expect(a.locator("#owner")).to_have_text("You're handling this")
    expect(a.locator("#transcript .msg.agent")).to_have_count(1)
    reply = [m for m in transcript(api, c.cid)["messages"] if m["role"] == "agent"][-1]
    assert reply["text"] == text, "the desk changed the agent's reply"
    c.agent_ids.append(reply["id"])
    check_text(agent, ledger, "console-transcript-agent", batch, msg("agent", reply["id"]), text)

    w = c.page
    expect(w.page.locator(row("agent", reply["id"]))).to_be_visible()
    check_text(w, ledger, "widget-agent", batch, row("agent", reply["id"]), text)

    a.locator("#resolve-open").click()
    expect(a.locator("#resolve-dialog")).to_be_visible()
    expect(a.locator("#resolve-answer")).to_have_value(text)  # prefilled from the reply, as a value
    expect(a.locator("#resolve-send")).not_to_be_checked()  # the customer has it already
    a.locator("#resolve-send").check()  # sent again on purpose: the resolution's render path is scanned too
    a.locator('#resolve-dialog input[value="none"]').check()
    a.locator("#resolve-submit").click()
    expect(a.locator("#resolve-dialog")).to_have_count(0)
    expect(a.locator("#owner")).to_have_text("Resolved by alice")
    scan(agent, ledger, "console-transcript-agent", batch)

    resolution = [m for m in transcript(api, c.cid)["messages"] if m["role"] == "agent"][-1]
    assert resolution["id"] != reply["id"] and resolution["text"] == text
    c.agent_ids.append(resolution["id"])
    expect(w.page.locator(row("agent", resolution["id"]))).to_be_visible()
    expect(w.page.locator('[data-part="resolved-note"]')).to_be_visible()
    check_text(w, ledger, "widget-agent-resolution", batch, row("agent", resolution["id"]), text)
    scan(w, ledger, "widget-agent-resolution", batch)


def reloaded_widget(c: Conversation, ledger: Ledger, api: httpx.Client) -> None:
    """The same conversation drawn again from the stored transcript."""
    p, batch = c.page, c.batch
    reopen(p)
    messages = transcript(api, c.cid)["messages"]
    expect(p.page.locator(".row[data-id]")).to_have_count(len(messages))
    check_markdown(p, ledger, "widget-bot-answer-reload", batch, row("bot", c.bot_answer_id))
    check_text(p, ledger, "widget-customer-reload", batch, row("customer", c.customer_id), c.question)
    for mid in c.agent_ids:
        check_text(p, ledger, "widget-agent-reload", batch, row("agent", mid), batch_text(batch))
    for m in messages:  # the handoff notes and the rest of the transcript too
        if m["role"] == "bot":
            check_markdown(p, ledger, "widget-bot-answer-reload", batch, row("bot", m["id"]))
    scan(p, ledger, "widget-customer-reload", batch)
    assert p.errors == [], p.errors


def resolved_in_console(c: Conversation, ledger: Ledger, agent: Page, api: httpx.Client) -> None:
    """The resolved handoff's detail: its answer note and, once indexed, its own ticket among the similar ones."""
    ticket = f"H-{c.hid}"
    deadline = time.monotonic() + 60
    while True:
        detail = api.get(f"/api/agent/handoffs/{c.hid}").json()
        similar = {t["id"]: t for t in detail["similar_tickets"]}
        if ticket in similar:
            break
        assert time.monotonic() < deadline, f"ticket {ticket} never showed among the similar tickets"
        time.sleep(0.3)
    a = agent.page
    if a.locator("#filter-status").input_value() != "resolved":
        a.locator("#filter-status").select_option("resolved")
    item = f'.qitem[data-handoff="{c.hid}"]'
    a.locator(item).click()
    expect(a.locator(f'#detail .msg.customer[data-id="{c.customer_id}"]')).to_be_visible()
    expect(a.locator("#owner")).to_have_text("Resolved by alice")
    batch, text = c.batch, batch_text(c.batch)
    check_text(agent, ledger, "console-resolved-note", batch, "#composer .note", f"This conversation is resolved. Answer: {text}")
    shown = a.locator("#similar .ticket")
    expect(shown.locator(".tm span", has_text=re.compile(f"^{ticket}$"))).to_have_count(1)
    similar = {t["id"]: t for t in api.get(f"/api/agent/handoffs/{c.hid}").json()["similar_tickets"]}
    for i in range(shown.count()):
        tid = shown.nth(i).locator(".tm span").first.inner_text()
        sel = f"#similar .ticket:nth-of-type({i + 1})"
        t = similar.get(tid, {"question": None, "answer": None})  # re-indexed since the console asked
        # tickets are redacted (e-mails, numbers...): shown as stored, whatever redaction made of them
        owner = batch if tid == ticket else []
        check_text(agent, ledger, "console-similar-question", owner, f"{sel} .tq", t["question"])
        check_text(agent, ledger, "console-similar-answer", owner, f"{sel} .ta", t["answer"])
