"""The human queue: conversations, handoffs with transcript, reason and candidates; claim, reply, resolve."""
