"""The ledger service's settings (``SHOUWEN_LEDGER_*``), beside the shared Settings. Kept in
common: intake's console links to the ledger's address, and ``shouwen up`` lays out its ports."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class LedgerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_LEDGER_", env_file=".env",
                                      extra="ignore")

    host: str = "127.0.0.1"
    port: int = 8001
    metrics_port: int = Field(default=9107, ge=0, le=65535)  # the worker's /metrics (0: none)
    batch_size: int = 500  # the consumer's messages per transaction
