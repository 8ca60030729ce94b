"""The directory document: plain pydantic models and the cross-reference rules.

    Directory
      ├── units[]           单位: departments[], sections[] (股室), staff[] (with roles)
      ├── external_bodies[] bodies outside the city's units (address, phone, contact person)
      └── matters[]         the catalogue: recognised by category + keywords; handled by a
                            unit's section within a time limit, or by an external body

No I/O here: the loader turns YAML into this, with line numbers for every error.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

Code = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
Name = Annotated[str, Field(min_length=1, max_length=200)]
Phone = Annotated[str, Field(min_length=3, max_length=40, pattern=r"^[0-9+\-() ]+$")]


class Role(StrEnum):
    staff = "staff"
    section_chief = "section_chief"
    supervising_leader = "supervising_leader"
    principal_leader = "principal_leader"
    supervisor = "supervisor"  # discipline inspection, 纪检监察
    centre_admin = "centre_admin"
    admin = "admin"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Department(_Strict):
    id: Code
    name: Name


class Section(_Strict):
    id: Code
    name: Name
    department: Code | None = None
    phone: Phone | None = None
    location: Name | None = None


class Staff(_Strict):
    id: Code
    name: Annotated[str, Field(min_length=1, max_length=100)]  # as on a receipt
    roles: list[Role] = Field(min_length=1)
    section: Code | None = None
    duty: Name
    contact: Phone
    on_duty: bool = True
    # for leaders: the sections they supervise (分管); empty means the whole unit
    supervises: list[Code] = Field(default_factory=list)


class Unit(_Strict):
    id: Code
    name: Name
    address: Name
    phone: Phone
    calendar: Code = "CN"
    departments: list[Department] = Field(default_factory=list)
    sections: list[Section] = Field(min_length=1)
    staff: list[Staff] = Field(min_length=1)


class ExternalBody(_Strict):
    id: Code
    name: Name
    address: Name
    phone: Phone
    contact_person: Name


class Matter(_Strict):
    code: Code
    name: Name
    category: Name
    keywords: list[Annotated[str, Field(min_length=1, max_length=50)]] = Field(min_length=1)
    unit: Code | None = None
    section: Code | None = None
    external_body: Code | None = None
    time_limit_working_days: int | None = Field(default=None, ge=0, le=365)
    materials: list[Name] = Field(default_factory=list)
    # how people say it (for the routing classifier): phrasings, synonyms, typos, English
    examples: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list)

    @model_validator(mode="after")
    def _handled_somewhere(self) -> Matter:
        if self.external_body is not None:
            # a unit or section left beside an external body would be silently ignored
            if self.unit is not None or self.section is not None:
                raise ValueError("give either unit + section (handled here) or external_body")
            if self.time_limit_working_days is not None:
                raise ValueError("a matter handled by an external body has no time limit here")
        elif self.unit is None or self.section is None:
            raise ValueError("give either unit + section (handled here) or external_body")
        elif self.time_limit_working_days is None:
            raise ValueError("time_limit_working_days is required for a matter handled here")
        return self


class Directory(_Strict):
    units: list[Unit] = Field(min_length=1)
    external_bodies: list[ExternalBody] = Field(default_factory=list)
    matters: list[Matter] = Field(default_factory=list)
    # opt-in: people's matter choices become proposed example phrasings (an admin reviews)
    learn_from_corrections: bool = False


Loc = tuple[str | int, ...]


def reference_errors(d: Directory) -> list[tuple[Loc, str]]:
    """Cross-reference problems, each with the path of the offending value."""
    errors: list[tuple[Loc, str]] = []
    staff_ids: set[str] = set()
    unit_ids = _duplicates(errors, [(("units", i, "id"), u.id) for i, u in enumerate(d.units)])
    # section ids are unique across the city, not just in their unit: the change record
    # (store._diff) and the people reading it name a section by its id alone
    _duplicates(
        errors,
        [
            (("units", i, "sections", j, "id"), s.id)
            for i, u in enumerate(d.units)
            for j, s in enumerate(u.sections)
        ],
    )
    sections_of: dict[str, set[str]] = {}
    for i, unit in enumerate(d.units):
        depts = {dep.id for dep in unit.departments}
        sections = {s.id for s in unit.sections}
        sections_of[unit.id] = sections
        for j, s in enumerate(unit.sections):
            if s.department is not None and s.department not in depts:
                errors.append(
                    (
                        (*("units", i, "sections", j), "department"),
                        f"unknown department {s.department!r} in unit {unit.id}",
                    )
                )
        for k, st in enumerate(unit.staff):
            loc: Loc = ("units", i, "staff", k)
            if st.id in staff_ids:
                errors.append(((*loc, "id"), f"duplicate staff id {st.id!r}"))
            staff_ids.add(st.id)
            if st.section is not None and st.section not in sections:
                errors.append(
                    ((*loc, "section"), f"unknown section {st.section!r} in unit {unit.id}")
                )
            for m, sup in enumerate(st.supervises):
                if sup not in sections:
                    errors.append(
                        ((*loc, "supervises", m), f"unknown section {sup!r} in unit {unit.id}")
                    )
        if not any(Role.principal_leader in st.roles for st in unit.staff):
            errors.append((("units", i, "staff"), f"unit {unit.id} has no principal_leader"))
    bodies = _duplicates(
        errors, [(("external_bodies", i, "id"), b.id) for i, b in enumerate(d.external_bodies)]
    )
    _duplicates(errors, [(("matters", i, "code"), m.code) for i, m in enumerate(d.matters)])
    for i, matter in enumerate(d.matters):
        loc = ("matters", i)
        if matter.unit is not None and matter.unit not in unit_ids:
            errors.append(((*loc, "unit"), f"unknown unit {matter.unit!r}"))
        elif matter.unit is not None and matter.section not in sections_of[matter.unit]:
            errors.append(
                ((*loc, "section"), f"unknown section {matter.section!r} in unit {matter.unit}")
            )
        if matter.external_body is not None and matter.external_body not in bodies:
            errors.append(
                ((*loc, "external_body"), f"unknown external body {matter.external_body!r}")
            )
    return errors


def _duplicates(errors: list[tuple[Loc, str]], items: list[tuple[Loc, str]]) -> set[str]:
    seen: set[str] = set()
    for loc, value in items:
        if value in seen:
            errors.append((loc, f"duplicate id {value!r}"))
        seen.add(value)
    return seen
