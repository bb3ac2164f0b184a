"""Small knowledge bases written as real FAQ files, for tests of calibration and tuning."""

from __future__ import annotations

from pathlib import Path

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
