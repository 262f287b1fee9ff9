"""Settings read from the environment (and `.env`), validated once at start-up."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob of the service. Secrets are `SecretStr` so they never show in logs or reprs."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    database_path: Path = Field(default=Path("./data/lapor.db"))
    evidence_dir: Path = Field(default=Path("./data/evidence"))
    default_locale: str = Field(default="id", pattern="^(id|en)$")
    timezone: str = Field(default="Asia/Jakarta")

    telegram_bot_token: SecretStr | None = None
    telegram_base_url: str = "https://api.telegram.org/bot"
    telegram_base_file_url: str = "https://api.telegram.org/file/bot"
    public_base_url: str | None = None
    telegram_webhook_path: str = "/telegram/webhook"
    telegram_webhook_secret: SecretStr | None = None
    telegram_max_rate: float = Field(default=30.0, ge=0, description="outbound messages per second, all chats; 0 = no limit")
    host: str = "0.0.0.0"
    port: int = Field(default=8080, ge=1, le=65535)

    log_level: str = "INFO"


def load_settings() -> Settings:
    return Settings()
