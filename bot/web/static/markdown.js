/*
 * The one markdown renderer of bot answers, for the widget and the console alike.
 *
 * markdown-it (vendor/markdown-it.min.js) turns the answer into HTML with raw HTML off: a "<" in
 * the text is escaped, never parsed. Links are kept only for http(s) URLs, an image shows as its
 * alt text (the widget loads nothing but its own script), a heading becomes a bold paragraph. DOMPurify
 * (vendor/purify.min.js) then keeps only the tags and attributes below, as a second line: what
 * markdown-it let through by mistake is still dropped. Links open in a new tab, without referrer.
 *
 * Not a script of its own: bot/web/vocabulary.py inlines the two libraries and this factory, in a
 * closure of their own (no globals, no AMD define of a host page), where widget.js and console.js
 * hold "/*MARKDOWN*\/ null". The factory returns {render(text) -> sanitised HTML string}.
 */
(function (markdownit, DOMPurify) {
  "use strict";

  var TAGS = ["p", "br", "strong", "em", "s", "code", "pre", "blockquote", "hr", "ol", "ul", "li", "a"];
  var ATTRS = ["href", "start", "class"];
  var WEB_URL = /^https?:\/\//i;
  var REL = "noopener noreferrer nofollow";

  var md = markdownit({ html: false, linkify: true, breaks: true, typographer: false });
  md.disable(["table"]);
  md.linkify.set({ fuzzyLink: false, fuzzyEmail: false, fuzzyIP: false }); // only URLs written with http(s)://
  md.validateLink = function (url) {
    return WEB_URL.test(url);
  };
  md.renderer.rules.image = function (tokens, idx, options, env, self) {
    return md.utils.escapeHtml(self.renderInlineAsText(tokens[idx].children, options, env));
  };
  md.renderer.rules.heading_open = function () {
    return '<p class="md-h"><strong>';
  };
  md.renderer.rules.heading_close = function () {
    return "</strong></p>\n";
  };

  // this copy of DOMPurify is private to the closure: its hooks do not touch a host page's copy
  var purify = DOMPurify(window);
  purify.addHook("afterSanitizeAttributes", function (node) {
    if (node.hasAttribute("class") && node.getAttribute("class") !== "md-h") node.removeAttribute("class");
    if (node.nodeName === "A" && node.hasAttribute("href")) {
      node.setAttribute("target", "_blank");
      node.setAttribute("rel", REL);
    }
  });
  var CONFIG = {
    ALLOWED_TAGS: TAGS,
    ALLOWED_ATTR: ATTRS,
    ALLOWED_URI_REGEXP: WEB_URL,
    ALLOW_DATA_ATTR: false,
    ALLOW_ARIA_ATTR: false,
  };

  /** Markdown to sanitised HTML: paragraphs, **bold**, *italic*, `code`, lists, http(s) links. */
  function render(text) {
    var html = md.render(String(text == null ? "" : text));
    return purify.isSupported ? purify.sanitize(html, CONFIG) : escapeAll(String(text == null ? "" : text));
  }

  // a browser DOMPurify cannot work in (none of the supported ones): the text, escaped, no markup
  function escapeAll(s) {
    return "<p>" + s.replace(/[&<>"']/g, function (c) {
      return "&#" + c.charCodeAt(0) + ";";
    }) + "</p>";
  }

  return { render: render };
})
