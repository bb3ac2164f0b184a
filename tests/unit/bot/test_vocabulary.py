"""The browser reads reply kinds, statuses and reasons from the Python enums, and labels every reason."""

from __future__ import annotations

import json
import re

from bot.web.vocabulary import PLACEHOLDER, render_script, vocabulary
from escalation.models import HandoffReason
from tests.support import ROOT

STATIC = ROOT / "bot" / "web" / "static"


def test_scripts_are_served_with_the_enums_filled_in() -> None:
    for name in ("widget.js", "console.js"):
        text = render_script(STATIC / name)
        assert PLACEHOLDER not in text
        m = re.search(r"var VOCAB = (\{.*?\});\n", text)
        assert m, name
        assert json.loads(m.group(1)) == vocabulary()


def test_no_status_or_kind_is_spelled_out_in_the_scripts() -> None:
    for name in ("widget.js", "console.js"):
        text = (STATIC / name).read_text(encoding="utf-8")
        spelled = re.findall(r'(?:status|kind)\s*[!=]==?\s*"(\w+)"', text)
        assert [s for s in spelled if s != "active"] == [], name


def test_the_console_labels_every_handoff_reason() -> None:
    text = (STATIC / "console.js").read_text(encoding="utf-8")
    block = text[text.index("var REASONS = {") : text.index("};", text.index("var REASONS = {"))]
    labelled = set(re.findall(r"^\s{4}(\w+): \[", block, flags=re.M))
    assert labelled == {r.value for r in HandoffReason}
