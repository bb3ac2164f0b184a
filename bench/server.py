"""Start a real ``helpdesk serve`` on a free localhost port, for end-to-end tests and benchmarks."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def running_server(
    data_dir: Path, faq_dir: Path, token: str = "e2e-token", tickets_dir: Path | None = None, **env: str
) -> Iterator[str]:
    port = free_port()
    cmd = [
        sys.executable,
        "-m",
        "bot.cli",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        "--faq",
        str(faq_dir),
        "--tickets",
        str(tickets_dir or ROOT / "data" / "tickets"),
    ]
    environ = {
        **os.environ,
        "HELPDESK_AGENT_TOKEN": token,
        "HELPDESK_WATCH_INTERVAL": "0.2",
        **env,
    }
    log = (data_dir / "server.log").open("w")
    proc = subprocess.Popen(cmd, cwd=ROOT, env=environ, stdout=log, stderr=subprocess.STDOUT)
    (data_dir / "server.pid").write_text(str(proc.pid))  # for tests that kill -9 it
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited: {(data_dir / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("server did not start in 180 s")
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def wait_calibrated(base: str, timeout: float = 900) -> float:
    """Wait until the desk's calibration is current (it fits itself in the background at a first start,
    encoding thousands of examples: measured during that, a benchmark measures the fitting); seconds waited."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        cal = httpx.get(f"{base}/api/health", timeout=10).json().get("calibration", {})
        if cal.get("current") and not cal.get("fitting"):
            return time.monotonic() - started
        time.sleep(1)
    raise RuntimeError(f"calibration not current after {timeout:.0f} s")


class MailSink:
    """A real SMTP server (aiosmtpd) on 127.0.0.1 standing in for the relay: keeps what it receives;
    recipients starting with ``refuse`` get 550, and ``down()`` / ``up()`` stop and restart it."""

    def __init__(self) -> None:
        self.port = free_port()
        self.mails: list[Any] = []
        self._controller: Any = None

    async def handle_RCPT(self, server: Any, session: Any, envelope: Any, address: str, options: list[str]) -> str:
        if address.startswith("refuse"):
            return "550 5.1.1 <" + address + ">: Recipient address rejected: User unknown"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        from email import message_from_bytes, policy

        self.mails.append(message_from_bytes(envelope.original_content or envelope.content, policy=policy.default))
        return "250 OK"

    def up(self) -> MailSink:
        from aiosmtpd.controller import Controller

        self._controller = Controller(self, hostname="127.0.0.1", port=self.port, ready_timeout=10)
        self._controller.start()
        return self

    def down(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def wait(self, count: int, timeout: float = 20.0) -> list[Any]:
        import time

        deadline = time.monotonic() + timeout
        while len(self.mails) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(self.mails) >= count, f"expected {count} mails, the relay got {len(self.mails)}"
        return self.mails
