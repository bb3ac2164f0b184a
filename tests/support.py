"""Helpers every test folder shares: paths, the agent token, settings, seeding a data dir, small FAQs."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
FAQ = ROOT / "data" / "faq"
TICKETS = ROOT / "data" / "tickets"
AGENT = {"Authorization": "Bearer test-token"}


def ask(client: Any, message: str, **kw: Any) -> dict[str, Any]:
    """One chat turn through the API; asserts it was accepted."""
    r = client.post("/api/chat", json={"message": message, **kw})
    assert r.status_code == 200, r.text
    return r.json()


def seed_state(data_dir: Path, shipped_index: Path) -> None:
    """Give ``data_dir`` the shipped index and calibration (copies: tests may change them)."""
    shutil.copytree(shipped_index, data_dir / "index", symlinks=True)
    shutil.copytree(shipped_index.parent / "calibration", data_dir / "calibration")


def make_settings(data_dir: Path, faq_dir: Path = FAQ, **kw: object):  # type: ignore[no-untyped-def]
    from bot.settings import Settings

    return Settings(
        data_dir=data_dir,
        faq_dir=faq_dir,
        tickets_dir=TICKETS,
        agent_token="test-token",
        watch_interval=0.2,
        **kw,
    )


def set_thresholds(services: object, **thresholds: float) -> None:
    """Make the running desk decide with other thresholds (e.g. never answer outright)."""
    from dataclasses import replace

    rt = services.runtime  # type: ignore[attr-defined]
    cal = rt.snapshot.calibration
    fixed = replace(cal, thresholds=replace(cal.thresholds, **thresholds))
    rt.fixed_calibration = fixed
    rt.snapshot = replace(rt.snapshot, calibration=fixed)


TINY = {
    "credit-note": (
        "How do I issue a credit note?",
        ["How can I cancel an invoice I already sent?", "The customer returned everything, how do I reverse it?"],
        "Open the invoice and choose **More › Create credit note**. The credit note reverses every line.",
    ),
    "reset-password": (
        "How do I reset my password?",
        ["I forgot my password and cannot sign in", "The password reset link has expired"],
        "Click **Forgot password** on the sign-in page; the link in the email is valid for one hour.",
    ),
    "vat-report": (
        "Where is the VAT report?",
        ["How do I see the output VAT for the quarter?", "Can I export the VAT report to Excel?"],
        "Go to **Reports › VAT report**, pick the period and click **Export** for Excel, CSV or PDF.",
    ),
    "webhooks": (
        "How do I set up webhooks?",
        ["Can Ledgerly notify my server when an invoice is paid?", "Which events can a webhook send?"],
        "Add an endpoint in **Settings › Webhooks** and choose events such as invoice.paid.",
    ),
}


def write_faq(folder: Path, entries: dict[str, tuple[str, list[str], str]] = TINY) -> Path:
    (folder / "en").mkdir(parents=True, exist_ok=True)
    for eid, (title, questions, answer) in entries.items():
        qs = "\n".join(f"  - {q}" for q in questions)
        (folder / "en" / f"{eid}.md").write_text(
            f"---\nid: {eid}\nlang: en\nquestions:\n{qs}\n---\n# {title}\n\n{answer}\n", encoding="utf-8"
        )
    return folder
