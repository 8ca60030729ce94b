"""Calendar settings (SHOUWEN_CALENDAR_*): which calendar a unit without its own uses, and
how often a service re-reads the calendars in force."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class CalendarSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_CALENDAR_", env_file=".env",
                                      extra="ignore")

    # The deployment's national calendar; its id also names the country's library rules.
    default: str = Field(default="CN", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    # Seconds a service keeps the book before checking the tables again.
    refresh_seconds: float = Field(default=30.0, gt=0)
