"""What the console's navigation shows a signed-in person, on every page.

    inbox (unread count)   everyone: their in-app notifications (routes/console_inbox.py)
    leader queue           section chiefs, leaders, the centre's leadership
    accountability         supervisors (纪检监察): /console/accountability
    leaders' dashboard     DASHBOARD_ROLES, as services/dashboard decides who may read it;
                           served by the ledger app (port 8001 under ``shouwen up``), so the
                           link is absolute: SHOUWEN_CONSOLE_DASHBOARD_URL overrides it
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from fastapi import Request
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.common.ledger_settings import LedgerSettings
from services.directory.index import Person
from services.directory.model import Role
from services.inapp import staff_inbox

# the dashboard's own rule (services/dashboard/routes.py LEADER_ROLES): anyone else gets 403
DASHBOARD_ROLES = (Role.section_chief, Role.supervising_leader, Role.principal_leader,
                   Role.centre_admin, Role.supervisor)


class ConsoleSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="SHOUWEN_CONSOLE_", env_file=".env",
                                      extra="ignore")

    dashboard_url: str | None = None  # None: the ledger app's /dashboard


@lru_cache
def dashboard_url() -> str:
    own = ConsoleSettings().dashboard_url
    if own:
        return own
    ledger = LedgerSettings()
    return f"http://{ledger.host}:{ledger.port}/dashboard"


def may_supervise(person: Person) -> bool:
    return person.has(Role.supervisor)


def sees_dashboard(person: Person) -> bool:
    return person.has(*DASHBOARD_ROLES)


def nav_context(request: Request, person: Person | None) -> dict[str, Any]:
    if person is None:
        return {"unread": 0, "dashboard_url": None}
    with request.app.state.wiring.pool.connection() as conn:
        unread = staff_inbox.unread_count(conn, person.staff.id)
    return {"unread": unread, "dashboard_url": dashboard_url() if sees_dashboard(person)
            else None}
