"""The email channel end to end against a real ``helpdesk serve``: a mail sent with smtplib to the desk's
listener until its threaded answer reaches the relay (an aiosmtpd sink), beside the same questions
asked through the widget's HTTP API in the same run; and a relay outage (mail queued, nothing lost).

    python -m bench.mail [--mails 40] [--outage 20]

Prints a table; the figures go in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import smtplib
import statistics
import tempfile
import time
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import httpx

from bench.attacks import RELAXED, build_seed, find_seed, prepare
from bench.server import MailSink, free_port, running_server

QUESTIONS = [
    ("请问怎么开红字发票？", "红字发票"),
    ("How do I issue a credit note?", "Credit note"),
    ("发票抬头写错了怎么办", "发票抬头"),
    ("Can I export the VAT report to Excel?", "VAT export"),
    ("How do I change the currency of an invoice?", "Currency"),
    ("I forgot my password and cannot sign in", "Password"),
]
SUPPORT = "support@ledgerly.test"


def mail(text: str, subject: str, n: int) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"customer{n}@example.cn"
    msg["To"] = SUPPORT
    msg["Subject"] = subject
    msg["Message-ID"] = make_msgid(domain="example.cn")
    msg.set_content(f"Hello,\n\n{text}\n\nThanks\nCustomer {n}")
    return msg


def pct(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(q * len(values)))]


def run(mails: int, outage: int) -> dict[str, dict[str, object]]:
    seed = find_seed() or build_seed()
    work = Path(tempfile.mkdtemp(prefix="bench-mail-"))
    data, faq = prepare(work, seed)
    sink = MailSink().up()
    listen = f"127.0.0.1:{free_port()}"
    env = {
        "HELPDESK_SMTP_LISTEN": listen,
        "HELPDESK_SMTP_RELAY": f"smtp://127.0.0.1:{sink.port}",
        "HELPDESK_MAIL_FROM": SUPPORT,
        "HELPDESK_RATE_LIMITS": json.dumps({**RELAXED, "mail_sender": "0/minute"}),
        "HELPDESK_SLA_POLICIES": "[]",
    }
    out: dict[str, dict[str, object]] = {}
    host, port = listen.rsplit(":", 1)
    try:
        with running_server(data, faq, **env) as base:
            with httpx.Client(base_url=base, timeout=30) as http:
                for text, _ in QUESTIONS:  # warm up both paths
                    http.post("/api/chat", json={"message": text})
                widget = []
                for i in range(mails):
                    text = QUESTIONS[i % len(QUESTIONS)][0]
                    t = time.perf_counter()
                    assert http.post("/api/chat", json={"message": text}).status_code == 200
                    widget.append((time.perf_counter() - t) * 1000)
            out["widget turn over HTTP"] = {"n": mails, "p50 ms": statistics.median(widget), "p95 ms": pct(widget, 0.95)}

            def one_mail(i: int) -> tuple[float, float, EmailMessage]:
                text, subject = QUESTIONS[i % len(QUESTIONS)]
                msg = mail(text, subject, i)
                t = time.perf_counter()
                with smtplib.SMTP(host, int(port), timeout=60) as smtp:
                    smtp.send_message(msg)
                acked = time.perf_counter()
                return t, acked, msg

            accepted, answered = [], []
            for i in range(mails):
                before = len(sink.mails)
                t, acked, msg = one_mail(i)
                sink.wait(before + 1, timeout=60)
                got = sink.mails[-1]
                assert got["In-Reply-To"] == msg["Message-ID"], "the answer is not threaded"
                accepted.append((acked - t) * 1000)
                answered.append((time.perf_counter() - t) * 1000)
            out["mail: stored and answered (250)"] = {
                "n": mails, "p50 ms": statistics.median(accepted), "p95 ms": pct(accepted, 0.95)
            }
            out["mail: threaded answer at the relay"] = {
                "n": mails, "p50 ms": statistics.median(answered), "p95 ms": pct(answered, 0.95)
            }

            # the relay goes down: mail keeps being accepted and answered, and goes out when it is back
            sink.down()
            before = len(sink.mails)
            for i in range(outage):
                one_mail(1000 + i)
            time.sleep(3)
            queued_while_down = len(sink.mails) - before
            sink.up()
            t = time.perf_counter()
            # retries back off from 30 s: the first retry after the relay returns delivers the backlog
            sink.wait(before + outage, timeout=180)
            time.sleep(2)
            delivered = len(sink.mails) - before
            ids = [m["In-Reply-To"] for m in sink.mails[before:]]
            out["relay down, then back"] = {
                "n": outage,
                "sent while down": queued_while_down,
                "delivered after": delivered,
                "duplicates": len(ids) - len(set(ids)),
                "s to drain": round(time.perf_counter() - t, 1),
            }
    finally:
        sink.down()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mails", type=int, default=40)
    ap.add_argument("--outage", type=int, default=20)
    args = ap.parse_args()
    out = run(args.mails, args.outage)
    print(f"{'path (serial, one at a time)':40} {'n':>4} {'p50 ms':>8} {'p95 ms':>8}")
    for name, row in out.items():
        if "p50 ms" in row:
            print(f"{name:40} {row['n']:>4} {row['p50 ms']:>8.1f} {row['p95 ms']:>8.1f}")
    outage = out["relay down, then back"]
    print()
    print(f"{'relay down, then back':40} " + "  ".join(f"{k} {v}" for k, v in outage.items()))

if __name__ == "__main__":
    main()
