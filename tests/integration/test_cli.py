import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.support import FAQ, ROOT, TICKETS, seed_state


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
        ["tune"],
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


def test_check_faq_warns_about_missing_translations(tmp_path: Path) -> None:
    faq = tmp_path / "faq"
    shutil.copytree(FAQ, faq)
    (faq / "zh" / "credit-note.md").unlink()
    result = CliRunner().invoke(main, ["check-faq", str(faq)])
    assert result.exit_code == 0 and "1 missing translation(s)" in result.output
    assert "`id: credit-note` has no `lang: zh` translation" in result.output


def test_ask_json(tmp_path: Path, shipped_index: Path) -> None:
    data = tmp_path / "state"
    data.mkdir()
    seed_state(data, shipped_index)
    args = [
        "ask",
        "The customer's VAT number on my invoice is wrong, how do I fix it?",
        "--json",
        *state_args(data),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert body["reply"]["kind"] == "answer" and body["reply"]["sources"][0]["id"] == "fix-tax-id"


def test_import_and_export_tickets_through_the_database(tmp_path: Path) -> None:
    src = tmp_path / "export.jsonl"
    good = {"id": "X-1", "question": "q", "answer": "a", "lang": "en", "resolved_at": "2026-01-01T00:00:00Z"}
    src.write_text(json.dumps(good) + "\n" + '{"id": "X-2", "lang": "fr"}\n')
    state = ["--data-dir", str(tmp_path / "state")]
    result = CliRunner().invoke(main, ["import-tickets", str(src), *state])
    assert result.exit_code == 0, result.output
    assert "line 2: missing question, answer, resolved_at" in result.output
    assert "imported 1 tickets" in result.output
    again = CliRunner().invoke(main, ["import-tickets", str(src), *state])
    assert "imported 0 tickets" in again.output and "1 were already stored" in again.output
    out = tmp_path / "back.jsonl"
    assert CliRunner().invoke(main, ["export-tickets", str(out), *state]).exit_code == 0
    assert [json.loads(x) for x in out.read_text().splitlines()] == [good]


def test_migrate_and_tokens(tmp_path: Path) -> None:
    state = ["--data-dir", str(tmp_path / "state")]
    first = CliRunner().invoke(main, ["migrate", *state])
    assert first.exit_code == 0 and "applied m001" in first.output, first.output
    assert "up to date" in CliRunner().invoke(main, ["migrate", *state]).output
    assert CliRunner().invoke(main, ["migrate", "--check", *state]).exit_code == 0
    missing = CliRunner().invoke(main, ["token", "create", "alice", *state])
    assert missing.exit_code == 1 and "helpdesk agent add alice" in missing.output
    assert CliRunner().invoke(main, ["agent", "add", "alice", "--password", "s3cret-pass", *state]).exit_code == 0
    made = CliRunner().invoke(main, ["token", "create", "alice", "--label", "laptop", *state])
    assert made.exit_code == 0 and made.stdout.strip().startswith("hd_"), made.output
    listed = CliRunner().invoke(main, ["token", "list", *state]).output
    assert "alice\tlaptop" in listed and "active" in listed and made.stdout.strip() not in listed
    assert CliRunner().invoke(main, ["token", "revoke", "1", *state]).exit_code == 0
    assert CliRunner().invoke(main, ["token", "revoke", "1", *state]).exit_code == 1
    assert "revoked" in CliRunner().invoke(main, ["token", "list", *state]).output
    bad = CliRunner().invoke(main, ["migrate", *state], env={"HELPDESK_DATABASE_URL": "mysql://x"})
    assert bad.exit_code == 1 and "neither sqlite" in bad.output


def test_calibrate_reports_the_guarantee_and_pins_it(tmp_path: Path, shipped_index: Path, embedders: list) -> None:
    """`helpdesk calibrate` shows what the answers are guaranteed to be and on how many examples; with
    --out the file pins the calibration for a desk (HELPDESK_CALIBRATION_FILE)."""
    from bot.services import build_services
    from tests.support import make_settings

    data = tmp_path / "state"
    data.mkdir()
    seed_state(data, shipped_index)
    pinned = tmp_path / "pinned.json"
    result = CliRunner().invoke(main, ["calibrate", "--out", str(pinned), *state_args(data)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert "precision >=" in body["guarantee"] and "with 95% confidence" in body["guarantee"]
    assert body["examples_by_source"]["present"] > 500 and body["examples_by_source"]["absent"] > 500
    assert 0.95 <= body["precision_lower_bound"] < 1 and 0.5 <= body["thresholds"]["answer"] <= 1
    written = json.loads(pinned.read_text())
    assert written["thresholds"]["answer"] == body["thresholds"]["answer"]
    settings = make_settings(data, calibration_file=pinned)
    services = build_services(settings, embedders=embedders)
    try:
        assert services.runtime.fixed_calibration is not None
        assert services.runtime.snapshot.calibration.thresholds.answer == body["thresholds"]["answer"]
    finally:
        services.close()


def test_calibrate_with_labelled_questions_adds_them(tmp_path: Path, shipped_index: Path) -> None:
    data = tmp_path / "state"
    data.mkdir()
    seed_state(data, shipped_index)
    lines = (ROOT / "data/eval/questions.jsonl").read_text().splitlines()
    small = tmp_path / "eval.jsonl"
    small.write_text("\n".join(lines[:60] + lines[-30:]) + "\n")
    result = CliRunner().invoke(main, ["calibrate", "--eval", str(small), *state_args(data)])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output[result.output.index("{") :])
    assert 0 < body["examples_by_source"]["labelled"] < 90  # the dev split only
