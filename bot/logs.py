"""Logging that never writes a customer's personal data: every record is redacted before output."""

from __future__ import annotations

import logging
import re

from knowledge.pii import redact

_CREDENTIAL = re.compile(r"((?:^|[?&])token=)[^&\s\"']+")


def clean(text: str) -> str:
    """``text`` without personal data and without credentials in URLs (an EventSource's ``?token=``)."""
    return redact(_CREDENTIAL.sub(r"\1***", text))


class RedactingFilter(logging.Filter):
    """Replaces e-mails, phones, card numbers, ids... in a record's message and arguments by placeholders."""

    def filter(self, record: logging.LogRecord) -> bool:
        # the message and each argument separately, keeping their shapes: formatters such as
        # uvicorn's access log unpack ``record.args`` themselves
        if isinstance(record.msg, str):
            record.msg = clean(record.msg)
        if isinstance(record.args, tuple):
            record.args = tuple(clean(a) if isinstance(a, str) else a for a in record.args)
        elif isinstance(record.args, dict):
            record.args = {k: clean(v) if isinstance(v, str) else v for k, v in record.args.items()}
        if record.exc_text:
            record.exc_text = clean(record.exc_text)
        return True


def install(logger: logging.Logger | None = None) -> None:
    """Redact on every handler of ``logger`` (the root logger by default), including uvicorn's."""
    targets = [logger or logging.getLogger()]
    if logger is None:
        targets += [logging.getLogger(n) for n in ("uvicorn", "uvicorn.error", "uvicorn.access", "helpdesk")]
    for lg in targets:
        for handler in lg.handlers:
            if not any(isinstance(f, RedactingFilter) for f in handler.filters):
                handler.addFilter(RedactingFilter())
        if not any(isinstance(f, RedactingFilter) for f in lg.filters):
            lg.addFilter(RedactingFilter())
