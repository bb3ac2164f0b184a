import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.conftest import CALIBRATION, FAQ, TICKETS


@pytest.mark.parametrize("command", [[], ["serve"], ["index"], ["check-faq"], ["ask"], ["calibrate"]])
def test_every_command_has_help_with_an_example(command: list[str]) -> None:
    for flag in ("-h", "--help"):
        result = CliRunner().invoke(main, [*command, flag])
        assert result.exit_code == 0 and "Example:" in result.output


def test_check_faq_ok_and_broken(tmp_path: Path) -> None:
    ok = CliRunner().invoke(main, ["check-faq", str(FAQ)])
    assert ok.exit_code == 0 and "entries OK" in ok.output
    faq = tmp_path / "faq"
    shutil.copytree(FAQ, faq)
    bad = faq / "en" / "credit-note.md"
    bad.write_text(bad.read_text().replace("id: credit-note\n", ""))
    dup = faq / "en" / "copy.md"
    dup.write_text((faq / "en" / "void-invoice.md").read_text())
    result = CliRunner().invoke(main, ["check-faq", str(faq)])
    assert result.exit_code == 1
    assert f"{bad} line 2: front matter has no `id`; add `id: credit-note`" in result.output
    assert "duplicate entry `id: void-invoice` with `lang: en`" in result.output


def test_ask_json(tmp_path: Path, shipped_index: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "state"
    data.mkdir()
    shutil.copytree(shipped_index, data / "index", symlinks=True)
    monkeypatch.setenv("HELPDESK_CALIBRATION_FILE", str(CALIBRATION))
    args = [
        "ask",
        "How do I fix the tax id on an invoice?",
        "--json",
        "--data-dir",
        str(data),
        "--faq",
        str(FAQ),
        "--tickets",
        str(TICKETS),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert body["reply"]["kind"] == "answer" and body["reply"]["sources"][0]["id"] == "fix-tax-id"
