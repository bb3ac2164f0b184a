"""Exceptions of the escalation queue; the bot maps each to an HTTP status."""


class EscalationError(Exception):
    code = "escalation_error"


class NotFound(EscalationError):
    code = "not_found"


class HandoffAlreadyClaimed(EscalationError):
    code = "already_claimed"


class InvalidTransition(EscalationError):
    code = "invalid_transition"
