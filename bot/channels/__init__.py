"""Channels besides the widget: email in (SMTP listener, IMAP) and out (relay queue)."""
