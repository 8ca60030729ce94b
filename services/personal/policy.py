"""A unit's personal-data policy (pii_unit_policy): retention years and full-export roles.

    export_masking(conn, person, unit)   which personal columns a ledger export masks for
        this reader: none when one of their roles is granted full export by the unit
        (``shouwen retention policy UNIT --full-export ROLE``), else phones and ID numbers
        (minimum necessary, PIPL Art. 6): a window clerk's year of 台账 carries no phone
"""

from __future__ import annotations

import psycopg

from services.directory.index import Person
from services.directory.model import Role

CONTACT_FIELDS = frozenset({"inquirer_phone", "inquirer_id_number"})


def set_policy(conn: psycopg.Connection, unit_id: str, years: int | None,
               full_export: list[str], actor: str) -> None:
    conn.execute(
        "INSERT INTO pii_unit_policy (unit_id, years, full_export, set_by) VALUES (%s, %s, %s, %s)"
        " ON CONFLICT (unit_id) DO UPDATE SET years = EXCLUDED.years,"
        " full_export = EXCLUDED.full_export, set_by = EXCLUDED.set_by, set_at = now()",
        (unit_id, years, full_export, actor))


def full_export_roles(conn: psycopg.Connection, unit_id: str) -> frozenset[str]:
    row = conn.execute("SELECT full_export FROM pii_unit_policy WHERE unit_id = %s",
                       (unit_id,)).fetchone()
    return frozenset(row[0]) if row else frozenset()




def export_masking(conn: psycopg.Connection, person: Person, unit_id: str) -> frozenset[str]:
    granted = full_export_roles(conn, unit_id)
    if any(person.has(Role(role)) for role in granted if role in Role.__members__):
        return frozenset()
    return CONTACT_FIELDS
