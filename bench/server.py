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
