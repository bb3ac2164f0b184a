"""Retention: transcripts older than the desk keeps them are masked (personal data replaced) or purged.

A conversation keeps the customer's original text while it is handled (the agent needs it); once it
has been untouched for ``days`` and has no open handoff, ``mask`` replaces e-mails, phones, card
numbers, ids... in its messages and handoff by placeholders (``knowledge.pii.redact``) and drops
the customer's profile, keeping the conversation for metrics; ``purge`` deletes it. Resolved
tickets were redacted when they were stored and stay.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from escalation.models import iso
from escalation.storage import Storage
from knowledge.pii import redact


class RetentionAction(StrEnum):
    MASK = "mask"
    PURGE = "purge"


@dataclass(frozen=True)
class RetentionResult:
    conversations: int
    texts_masked: int
    action: RetentionAction
    cutoff: str


def apply_retention(
    storage: Storage, days: int, action: RetentionAction = RetentionAction.MASK, dry_run: bool = False
) -> RetentionResult:
    """Mask or purge every conversation untouched for ``days`` days (none when ``days`` <= 0)."""
    cutoff = iso(datetime.now(UTC) - timedelta(days=days))
    if days <= 0:
        return RetentionResult(0, 0, action, cutoff)
    done = masked = 0
    seen: set[str] = set()
    while True:
        batch = [c for c in storage.conversations.expired(cutoff) if c not in seen]
        if not batch:
            break
        for conversation_id in batch:
            seen.add(conversation_id)
            done += 1
            if dry_run:
                continue
            if action == RetentionAction.PURGE:
                storage.conversations.purge(conversation_id)
            else:
                masked += storage.conversations.mask(conversation_id, redact)
        if dry_run:
            break
    return RetentionResult(done, masked, action, cutoff)
