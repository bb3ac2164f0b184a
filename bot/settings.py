"""One typed settings object, read from ``HELPDESK_*`` environment variables and the CLI."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HELPDESK_", extra="ignore")

    host: str = Field("127.0.0.1", description="Interface the HTTP server listens on.")
    port: int = Field(8000, description="TCP port of the HTTP server.")
    data_dir: Path = Field(
        Path(".helpdesk"), description="Runtime state: database, index, tokens. Never committed."
    )
    faq_dir: Path = Field(Path("data/faq"), description="Folder of FAQ markdown files (one entry per file).")
    tickets_dir: Path = Field(
        Path("data/tickets"), description="Folder of shipped resolved tickets (*.jsonl)."
    )
    calibration_file: Path | None = Field(
        None,
        description="Calibration JSON; default: <data-dir>/calibration.json, else the shipped data/calibration.json.",
    )
    models: list[str] = Field(
        default_factory=lambda: ["use-multilingual-v3", "multilingual-e5-small-q4"],
        description="Embedding models, from indexer.embedders.EMBEDDERS.",
    )
    agent_token: str | None = Field(
        None, description="Bearer token of the agent API; generated on first start."
    )
    console_accounts: dict[str, str] = Field(
        default_factory=dict,
        description='Console sign-ins to create at start, as JSON {"username": "password"}; stored hashed.',
    )
    target_precision: float = Field(0.95, description="Answer precision the calibration aims for.")
    expected_response_minutes: int = Field(
        15, description="Typical wait for a human reply, told to customers."
    )
    max_message_chars: int = Field(2000, description="Longest customer message accepted.")
    watch_interval: float = Field(0.25, description="Seconds between checks of the FAQ and ticket folders.")
    max_batch: int = Field(
        32, description="Most questions embedded together in one encoder batch (1 = no batching)."
    )
    batch_wait_ms: float = Field(
        4.0, description="How long the first question of a batch waits for others (ms)."
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="Origins allowed to call the API (widget)."
    )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "helpdesk.sqlite"

    @property
    def index_dir(self) -> Path:
        return self.data_dir / "index"

    @property
    def resolved_tickets_dir(self) -> Path:
        return self.data_dir / "tickets"

    @property
    def resolved_tickets_file(self) -> Path:
        return self.resolved_tickets_dir / "resolved.jsonl"

    @property
    def ticket_dirs(self) -> list[Path]:
        return [self.tickets_dir, self.resolved_tickets_dir]

    def calibration_path(self) -> Path | None:
        for p in (self.calibration_file, self.data_dir / "calibration.json", SHIPPED_CALIBRATION):
            if p is not None and p.exists():
                return p
        return None


SHIPPED_CALIBRATION = Path("data/calibration.json")
