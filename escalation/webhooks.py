"""Outgoing webhooks: ``handoff.created``, ``sla.breached``, ``handoff.resolved``, ``incident.suspected``,
signed and retried.

Each delivery is a row of the webhook outbox (written with its event). The body is JSON; the
signature is ``X-Helpdesk-Signature: t=<unix time>,v1=<hex HMAC-SHA256 of "<t>.<body>">`` under the
webhook secret (the scheme Stripe and Slack use: the receiver recomputes it and rejects old
timestamps). A 2xx delivers; anything else is retried with backoff (30 s doubling to 30 min) for a
day, then marked failed. The rows are the delivery log (``GET /api/agent/webhooks``).

``incident.suspected`` is the page to the on-call engineers: besides ``data`` (counts, languages, channels,
first/last seen, a few redacted questions, the console URL, and a ``pager`` block shaped like PagerDuty's
Events API v2 ``payload``) its body has a top-level ``text``, which Slack-style incoming webhooks post.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta

from escalation.models import parse_iso
from escalation.storage import Storage

log = logging.getLogger("helpdesk.webhooks")
GIVE_UP_AFTER = timedelta(days=1)


def sign(secret: str, timestamp: int, body: bytes) -> str:
    mac = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance_seconds: int = 300, now: float | None = None) -> bool:
    """What a receiver does: recompute the signature and refuse stale timestamps."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        ts = int(fields["t"])
    except (KeyError, ValueError):
        return False
    if abs((now or time.time()) - ts) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, ts, body), header)


class WebhookSender:
    def __init__(self, storage: Storage, url: str | None, secret: str | None, timeout: float = 10.0) -> None:
        if url and not secret:
            raise ValueError("HELPDESK_WEBHOOK_URL needs HELPDESK_WEBHOOK_SECRET to sign its deliveries")
        self.storage = storage
        self.url = url
        self.secret = secret or ""
        self.timeout = timeout

    def send_due(self, now: datetime | None = None, limit: int = 20) -> int:
        """Deliver what is due; how many were delivered. Without a URL, queued deliveries are skipped."""
        repo = self.storage.webhooks
        if not self.url:
            repo.skip_queued()
            return 0
        now = now or datetime.now(UTC)
        delivered = 0
        for row in repo.take_due(now, limit):
            body = row["payload"].encode()
            headers = {
                "Content-Type": "application/json",
                "User-Agent": "invoice-helpdesk-webhooks/1",
                "X-Helpdesk-Event": row["event"],
                "X-Helpdesk-Delivery": str(json.loads(row["payload"]).get("id", row["id"])),
                "X-Helpdesk-Signature": sign(self.secret, int(time.time()), body),
            }
            request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
            code: int | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # noqa: S310 (operator's URL)
                    code = int(response.status)
                error = ""
            except urllib.error.HTTPError as exc:
                code, error = exc.code, f"HTTP {exc.code}"
            except (OSError, ValueError) as exc:
                error = f"{type(exc).__name__}: {exc}"
            if code is not None and 200 <= code < 300:
                repo.delivered(int(row["id"]), code, now)
                delivered += 1
            elif now - parse_iso(row["created_at"]) > GIVE_UP_AFTER:
                repo.failed(int(row["id"]), f"gave up after {row['attempts'] + 1} tries: {error}", code)
            else:
                log.info("webhook %s not delivered (%s); retrying", row["event"], error)
                repo.retry(row, error, now, code)
        return delivered
