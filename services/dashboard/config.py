"""Settings of the exporter and the leaders' dashboard (environment, ``SHOUWEN_`` prefix)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

Port = Annotated[int, Field(ge=0, le=65535)]


class DashboardSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_", env_file=".env", extra="ignore")

    exporter_port: Port = 9106  # 0: not served
    exporter_interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 10.0
    dashboard_host: str = "127.0.0.1"
    dashboard_port: Port = 8002
    dashboard_weeks: Annotated[int, Field(ge=1, le=104)] = 12  # how far back the charts go
