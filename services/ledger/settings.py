"""The ledger service's own settings (``SHOUWEN_LEDGER_*``), beside the shared Settings."""

from __future__ import annotations

from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_LEDGER_", env_file=".env",
                                      extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8001
    batch_size: int = 500  # the consumer's messages per transaction
