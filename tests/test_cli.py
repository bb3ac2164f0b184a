import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.conftest import CALIBRATION, FAQ, TICKETS


def state_args(data: Path) -> list[str]:
    return ["--data-dir", str(data), "--faq", str(FAQ), "--tickets", str(TICKETS)]


@pytest.mark.parametrize(
    "command",
    [
        [],
        ["serve"],
        ["index"],
        ["check-faq"],
        ["ask"],
        ["calibrate"],
        ["import-tickets"],
        ["agent"],
        ["agent", "add"],
    ],
)
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
        *state_args(data),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert body["reply"]["kind"] == "answer" and body["reply"]["sources"][0]["id"] == "fix-tax-id"


def test_import_tickets_validates_and_writes_atomically(tmp_path: Path) -> None:
    src = tmp_path / "export.jsonl"
    good = {"id": "X-1", "question": "q", "answer": "a", "lang": "en", "resolved_at": "2026-01-01T00:00:00Z"}
    src.write_text(json.dumps(good) + "\n" + '{"id": "X-2", "lang": "fr"}\n')
    result = CliRunner().invoke(main, ["import-tickets", str(src), "--data-dir", str(tmp_path / "state")])
    assert result.exit_code == 0, result.output
    assert "line 2: missing question, answer, resolved_at" in result.output
    assert "imported 1 tickets" in result.output
    written = (tmp_path / "state" / "tickets" / "import-export.jsonl").read_text().splitlines()
    assert [json.loads(x)["id"] for x in written] == ["X-1"]


def test_calibrate_writes_a_calibration_the_service_uses(
    tmp_path: Path, shipped_index: Path, embedders: list
) -> None:
    from bot.services import build_services
    from tests.conftest import make_settings

    data = tmp_path / "state"
    data.mkdir()
    shutil.copytree(shipped_index, data / "index", symlinks=True)
    lines = (Path(__file__).resolve().parent.parent / "data/eval/questions.jsonl").read_text().splitlines()
    small = tmp_path / "eval.jsonl"
    small.write_text("\n".join(lines[:120] + lines[-60:]) + "\n")
    args = [
        "calibrate",
        "--eval",
        str(small),
        *state_args(data),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    written = data / "calibration.json"
    body = json.loads(written.read_text())
    assert body["meta"]["dev_questions"] < 180 and 0 < body["thresholds"]["answer"] <= 1.0 + 1e-6
    settings = make_settings(data)
    settings.calibration_file = (
        None  # as in production: <data-dir>/calibration.json wins over the shipped one
    )
    services = build_services(settings, embedders=embedders)
    try:
        assert services.calibration_path == written
        assert services.calibration.thresholds.answer == body["thresholds"]["answer"]
    finally:
        services.close()
