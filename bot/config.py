"""Settings read from the environment (and `.env`), validated once at start-up."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from bot.downloads import DownloadLimits
from cleaning.pool import Limits
from flows.policy import DEFAULT_OPERATOR, Policy
from storage.database import is_postgres_url

if TYPE_CHECKING:
    from cleaning.short_links import LinkResolver
    from storage import Database
    from storage.sealing import KeySource


class Settings(BaseSettings):
    """Every knob of the service. Secrets are `SecretStr` so they never show in logs or reprs."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_path: Path = Field(default=Path("./data/lapor.db"))
    database_url: SecretStr | None = Field(default=None, description="postgresql://... : PostgreSQL instead of "
                                           "the SQLite file (it may hold a password)")
    allow_ephemeral_database: bool = Field(default=False, description="run on the SQLite file even where the "
                                           "platform wipes the disk on restart (a trial)")
    evidence_dir: Path = Field(default=Path("./data/evidence"))
    data_key: SecretStr | None = Field(default=None, description="the data key (url-safe base64 of 32 bytes, "
                                       "`python -m bot keygen`) that every sealed value and file opens with")
    data_key_file: Path | None = Field(default=None, description="the data key's file, made (mode 0600) on the "
                                       "first start when DATA_KEY is unset; default: lapor.key beside DATABASE_PATH")
    new_data_key: SecretStr | None = Field(default=None, description="for `rotate-key` when DATA_KEY is set: the "
                                           "key to rotate to (`python -m bot keygen`)")
    default_locale: str = Field(default="id", pattern="^(id|en)$")
    timezone: str = Field(default="Asia/Jakarta")

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    public_base_url: str | None = None
    telegram_webhook_path: str = "/telegram/webhook"
    telegram_webhook_secret: SecretStr | None = None
    telegram_max_rate: float = Field(default=30.0, ge=0, description="outbound messages per second, all chats; 0 = no limit")
    telegram_group_max_per_minute: float = Field(
        default=20.0, ge=0, description="outbound messages per minute to one group (Telegram's limit); 0 = no limit")
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)

    twilio_account_sid: str | None = None
    twilio_auth_token: SecretStr | None = None
    twilio_whatsapp_from: str | None = Field(default=None, description="e.g. whatsapp:+14155238886")
    twilio_api_base_url: str | None = Field(default=None, description="instead of https://api.twilio.com")
    twilio_status_template_sid: str | None = Field(default=None, description="approved template for news "
                                                   "outside WhatsApp's 24-hour window")
    twilio_case_template_sid: str | None = Field(default=None, description="approved template (number, region, "
                                                 "kind, quick replies) for a new case to an officer outside "
                                                 "WhatsApp's 24-hour window")
    media_url_seconds: float = Field(default=3600.0, gt=0, le=7 * 86400, description="how long a signed URL of a "
                                     "file sent to an officer on WhatsApp works")
    twilio_webhook_path: str = "/twilio/whatsapp"
    twilio_timeout: float = Field(default=15.0, gt=0)
    twilio_media_auth_hosts: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["api.twilio.com"], description="hosts that get the account's credentials "
        "with a media download (over https only)")
    twilio_media_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="addresses (CIDR) exempt from the refusal of loopback, private and "
        "link-local addresses for media downloads (tests)")
    twilio_media_ca_file: Path | None = Field(default=None, description="extra CA certificates to trust for "
                                              "media downloads (tests, a TLS-inspecting proxy)")

    link_resolve: bool = Field(default=True, description="follow share links (vm.tiktok.com, facebook.com/share, "
                               "t.co...) to the post; off: every such link is held for the moderators")
    link_timeout: float = Field(default=6.0, gt=0, description="seconds to follow one share link, all hops")
    link_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="addresses (CIDR) exempt from the refusal of non-public addresses "
        "when following share links (tests)")
    link_addresses: dict[str, str] = Field(default_factory=dict, description="host -> address:port instead of "
                                           "DNS when following share links (tests)")
    link_ca_file: Path | None = Field(default=None, description="extra CA certificates to trust when following "
                                      "share links (tests)")

    admin_telegram_ids: Annotated[list[int], NoDecode] = Field(default_factory=list)
    moderator_chat_id: int | None = Field(default=None, description="moderators' Telegram group for alerts")
    default_focal_chat_id: int | None = Field(default=None, description="national fallback focal-point group")
    remind_after_hours: float = Field(default=24.0, gt=0)
    escalate_after_hours: float = Field(default=72.0, gt=0)
    telegram_timeout: float = Field(default=10.0, gt=0, description="seconds to wait for a Bot API answer")
    max_cases_per_day: int = Field(default=5, ge=0, description="per reporter, rolling 24 hours; 0 = no limit")
    max_messages_per_minute: int = Field(default=30, ge=0, description="per reporter; 0 = no limit")
    retention_days: int = Field(default=365, ge=1, description="reporter identity kept after a case is closed")
    outbox_keep_days: float = Field(default=30.0, gt=0, description="what a sent message said is kept this long")
    delivery_lease_seconds: float = Field(default=60.0, gt=0)
    delivery_poll_seconds: float = Field(default=1.0, gt=0)
    delivery_backoff_seconds: float = Field(default=2.0, gt=0, description="first retry delay; doubles per attempt")
    worker_heartbeat_seconds: float = Field(default=1.0, gt=0, description="how often a worker says it is alive "
                                            "(PostgreSQL, several workers)")
    worker_dead_after_seconds: float = Field(default=3.0, gt=0, description="a worker silent this long is dead: "
                                             "its leases are taken over")
    deadline_check_seconds: float = Field(default=60.0, gt=0)
    health_max_backlog_seconds: float = Field(default=900.0, gt=0, description="/readyz is 503 when the oldest "
                                              "delivery that could be sent now is older")

    download_deadline_seconds: float = Field(default=60.0, gt=0, description="time one file's download may "
                                             "take, every try included")
    download_min_bytes_per_second: int = Field(default=16 * 1024, ge=0, description="a download slower than "
                                               "this (measured over 10 s, or a quarter of the deadline) is given up")
    download_tries: int = Field(default=3, ge=1, le=10, description="tries per file within the deadline")
    whatsapp_concurrency: int = Field(default=64, ge=1, description="WhatsApp messages handled at once (messages "
                                      "waiting for a download do not count)")
    cleaning_workers: int = Field(default=0, ge=0, le=64, description="worker processes that clean files; "
                                  "0 = sized to the machine (cores - 1, at most 4, within a quarter of the memory)")
    cleaning_memory_mb: int = Field(default=512, ge=192, description="each cleaning worker's address space in MB "
                                    "(RLIMIT_AS, its libraries included); a file that needs more is unsafe")
    cleaning_seconds: float = Field(default=30.0, gt=0, description="time a file may take to clean; then its "
                                    "worker is killed and the file is unsafe")

    operator_name: str = Field(default=DEFAULT_OPERATOR, min_length=1, max_length=200,
                               description="who runs the service, named in the privacy notice")

    log_level: str = "INFO"
    log_hash_key: SecretStr | None = Field(default=None, description="key of the short hashes that stand for "
                                           "chats and phone numbers in the logs; unset: a new one per process")
    metrics_token: SecretStr | None = Field(default=None, description="bearer token for /metrics and the "
                                            "details of /healthz; unset: /metrics is off")

    @field_validator("twilio_media_auth_hosts", "twilio_media_allow_networks", "link_allow_networks", mode="before")
    @classmethod
    def _comma_separated_words(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("admin_telegram_ids", mode="before")
    @classmethod
    def _comma_separated(cls, value: object) -> object:
        """`ADMIN_TELEGRAM_IDS=111,222` (spaces allowed) as well as a list."""
        if isinstance(value, str):
            return [int(part) for part in value.replace(";", ",").split(",") if part.strip()]
        if isinstance(value, int):
            return [value]
        return value

    @field_validator("data_key", "new_data_key", mode="before")
    @classmethod
    def _a_data_key(cls, value: object) -> object:
        """Empty means unset; anything else must be a data key."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw in (None, ""):
            return None
        from storage.sealing import parse_data_key

        parse_data_key(str(raw))  # ValueError: named as the setting, never shown
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_only(cls, value: object) -> object:
        """Empty means unset; anything else must be a PostgreSQL URL."""
        raw = value.get_secret_value() if isinstance(value, SecretStr) else value
        if raw in (None, ""):
            return None
        if not is_postgres_url(raw):
            raise ValueError("DATABASE_URL must start with postgresql:// (unset it to use the SQLite file)")
        return value

    @property
    def database(self) -> str | Path:
        """What `Database.open` takes: the PostgreSQL URL when configured, else the SQLite file."""
        return self.database_url.get_secret_value() if self.database_url else self.database_path

    def key_source(self) -> KeySource:
        """Where the data key comes from: `DATA_KEY`, else the key file (`storage/sealing.py`)."""
        from storage.sealing import KeySource

        return KeySource(self.data_key.get_secret_value() if self.data_key else None,
                         self.data_key_file or self.database_path.parent / "lapor.key")

    async def open_database(self, checkpoint_every: float | None = 1.0) -> Database:
        """The database, opened with the data key (a wrong one raises `sealing.WrongKey`
        before anything changes); on SQLite, evidence files stored before sealing are sealed."""
        from storage import Database

        return await Database.open(self.database, key=self.key_source(), checkpoint_every=checkpoint_every,
                                   evidence=None if self.database_url else self.evidence_dir)

    @contextlib.asynccontextmanager
    async def opened_database(self) -> AsyncIterator[Database]:
        """`open_database`, closed again when the block ends (a shell command's one use)."""
        db = await self.open_database()
        try:
            yield db
        finally:
            await db.close()

    @property
    def whatsapp_enabled(self) -> bool:
        return bool(self.twilio_account_sid and self.twilio_auth_token and self.twilio_whatsapp_from)

    def link_resolver(self) -> LinkResolver | None:
        """The share-link follower every channel's messages go through (None when off)."""
        if not self.link_resolve:
            return None
        from cleaning.short_links import LinkResolver, ResolveRules

        return LinkResolver(ResolveRules.from_settings(self.link_allow_networks, self.link_addresses,
                                                       self.link_ca_file, self.link_timeout))

    def download_limits(self) -> DownloadLimits:
        return DownloadLimits(self.download_deadline_seconds, self.download_min_bytes_per_second, self.download_tries)

    def cleaning_limits(self) -> Limits:
        return Limits(self.cleaning_workers, self.cleaning_memory_mb, self.cleaning_seconds)

    def policy(self) -> Policy:
        return Policy(
            default_locale=self.default_locale,
            default_focal_chat_id=self.default_focal_chat_id,
            moderator_chat_id=self.moderator_chat_id,
            admin_ids=frozenset(self.admin_telegram_ids),
            remind_after=timedelta(hours=self.remind_after_hours),
            escalate_after=timedelta(hours=self.escalate_after_hours),
            max_cases_per_day=self.max_cases_per_day,
            max_messages_per_minute=self.max_messages_per_minute,
            retention=timedelta(days=self.retention_days),
            timezone=self.timezone,
            outbox_keep=timedelta(days=self.outbox_keep_days),
            operator_name=self.operator_name,
        )


def load_settings() -> Settings:
    return Settings()
