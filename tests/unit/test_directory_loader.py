"""The directory loader, without a database: the demo city's file loads and is complete;
a bad file is refused with the line and the reason of every problem.

The bad files are the small GOOD file below with one mistake put in; the expected line is
found in the bad text itself, so the tests say which line a person would have to fix.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from services.directory.loader import DirectoryFileError, load_directory, parse_directory
from services.directory.model import Directory, Role

DEMO = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "directory.yaml"

GOOD = """\
units:
  - id: U1
    name: 测试单位
    address: 测试路1号
    phone: 0935-8000000
    sections:
      - id: S1
        name: 综合股
    staff:
      - id: P1
        name: 甲某
        roles: [principal_leader]
        duty: 局长
        contact: 0935-8000001
      - id: A1
        name: 乙某
        roles: [staff]
        section: S1
        duty: 窗口受理
        contact: 0935-8000002
external_bodies:
  - id: B1
    name: 外单位
    address: 外路2号
    phone: 0935-8000009
    contact_person: 丙某
matters:
  - code: M1
    name: 事项
    category: 类别
    keywords: [关键词]
    unit: U1
    section: S1
    time_limit_working_days: 5
    materials: [居民身份证原件]
"""


def line_of(text: str, needle: str, nth: int = 1) -> int:
    """1-based line of the ``nth`` line containing ``needle``."""
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    assert len(hits) >= nth, f"{needle!r} occurs {len(hits)} time(s) in the test file"
    return hits[nth - 1]


def refused(text: str) -> list[tuple[int, str]]:
    with pytest.raises(DirectoryFileError) as caught:
        parse_directory(text, "bad.yaml")
    assert caught.value.problems, "a refusal must name at least one problem"
    return caught.value.problems


def with_mistake(old: str, new: str) -> str:
    assert GOOD.count(old) == 1, f"{old!r} must occur once in GOOD"
    return GOOD.replace(old, new)


# -- the demo city ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo() -> Directory:
    return load_directory(DEMO)


def test_the_good_test_file_loads() -> None:
    directory = parse_directory(GOOD)
    assert [m.code for m in directory.matters] == ["M1"]


def test_demo_city_loads_with_enough_units_sections_staff_and_matters(demo: Directory) -> None:
    assert len(demo.units) >= 4
    assert sum(len(u.sections) for u in demo.units) >= 10
    assert sum(len(u.staff) for u in demo.units) >= 30
    assert len(demo.matters) >= 40
    assert len(demo.external_bodies) >= 6


def test_every_demo_unit_has_a_full_responsibility_chain(demo: Directory) -> None:
    for unit in demo.units:
        roles = Counter(role for st in unit.staff for role in st.roles)
        assert roles[Role.principal_leader] == 1, unit.id
        assert 1 <= roles[Role.supervising_leader] <= 2, unit.id
        supervised = {s for st in unit.staff for s in st.supervises}
        chiefs = {st.section for st in unit.staff if Role.section_chief in st.roles}
        for section in unit.sections:
            assert section.id in supervised, f"{unit.id}/{section.id} has no supervising leader"
            assert section.id in chiefs, f"{unit.id}/{section.id} has no section chief"


def test_demo_has_centre_admin_supervisor_admin_and_staff_off_duty(demo: Directory) -> None:
    everyone = [st for u in demo.units for st in u.staff]
    roles = {role for st in everyone for role in st.roles}
    assert {Role.centre_admin, Role.supervisor, Role.admin} <= roles
    assert any(st.id == "ADMIN01" and Role.admin in st.roles for st in everyone)
    assert any(not st.on_duty for st in everyone)


def test_demo_matters_are_handled_here_in_time_or_by_a_named_external_body(
    demo: Directory,
) -> None:
    external = [m for m in demo.matters if m.external_body is not None]
    internal = [m for m in demo.matters if m.external_body is None]
    assert len(external) >= 3
    assert all(m.unit is None and m.time_limit_working_days is None for m in external)
    assert all(0 <= (m.time_limit_working_days or 0) <= 20 for m in internal)
    assert sum(1 for m in internal if m.time_limit_working_days == 0) >= 5
    assert len({m.category for m in demo.matters}) >= 10
    with_materials = [m for m in internal if m.materials]
    assert len(with_materials) >= len(internal) - 2
    assert any("居民身份证原件" in "".join(m.materials) for m in internal)


# -- bad files: the line and the reason ------------------------------------------------------


def test_invalid_yaml_is_refused_at_its_line() -> None:
    bad = with_mistake("    address: 测试路1号\n", "    address: 测试路1号: 二楼\n")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "测试路1号: 二楼")
    assert "not valid YAML" in reason


def test_unknown_role_is_refused_at_its_line() -> None:
    bad = with_mistake("roles: [staff]", "roles: [janitor]")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "janitor")
    assert reason.startswith("units.0.staff.1.roles.0:")
    assert "principal_leader" in reason


def test_staff_in_an_unknown_section_is_refused() -> None:
    bad = with_mistake("        section: S1\n", "        section: S9\n")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "section: S9")
    assert "unknown section 'S9' in unit U1" in reason


def test_duplicate_staff_id_is_refused_at_the_second_one() -> None:
    bad = with_mistake("- id: A1", "- id: P1")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "- id: P1", nth=2)
    assert "duplicate staff id 'P1'" in reason


def test_matter_with_a_section_and_an_external_body_is_refused() -> None:
    bad = with_mistake(
        "    materials: [居民身份证原件]", "    external_body: B1\n    materials: []"
    )
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "- code: M1")
    assert "either unit + section" in reason


def test_matter_with_a_section_but_no_unit_beside_an_external_body_is_refused() -> None:
    bad = with_mistake("    unit: U1\n", "    external_body: B1\n")
    bad = bad.replace("    time_limit_working_days: 5\n", "")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "- code: M1")
    assert "either unit + section" in reason


def test_matter_handled_here_without_a_time_limit_is_refused() -> None:
    bad = with_mistake("    time_limit_working_days: 5\n", "")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "- code: M1")
    assert "time_limit_working_days is required" in reason


def test_misspelt_field_is_refused_at_the_typo() -> None:
    bad = with_mistake("contact: 0935-8000002", "contcat: 0935-8000002")
    problems = refused(bad)
    assert (line_of(bad, "contcat"), "units.0.staff.1.contcat: Extra inputs are not permitted") in (
        problems
    )
    assert any(reason == "units.0.staff.1.contact: Field required" for _, reason in problems)


def test_unit_without_a_principal_leader_is_refused() -> None:
    bad = with_mistake("roles: [principal_leader]", "roles: [supervising_leader]")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "    staff:")
    assert "unit U1 has no principal_leader" in reason


def test_time_limit_in_words_is_refused_as_the_wrong_type() -> None:
    bad = with_mistake("time_limit_working_days: 5", "time_limit_working_days: five")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "time_limit_working_days: five")
    assert reason.startswith("matters.0.time_limit_working_days:")
    assert "valid integer" in reason


def test_matter_of_an_unknown_external_body_is_refused() -> None:
    bad = with_mistake(
        "    unit: U1\n    section: S1\n    time_limit_working_days: 5\n", "    external_body: B7\n"
    )
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "external_body: B7")
    assert "unknown external body 'B7'" in reason


def test_a_section_id_used_by_two_units_is_refused() -> None:
    second_unit = (
        "  - id: U2\n    name: 第二单位\n    address: 测试路3号\n    phone: 0935-8000100\n"
        "    sections:\n      - id: S1\n        name: 办公室\n"
        "    staff:\n      - id: P2\n        name: 丁某\n        roles: [principal_leader]\n"
        "        duty: 主任\n        contact: 0935-8000101\n"
    )
    bad = with_mistake("external_bodies:\n", second_unit + "external_bodies:\n")
    [(line, reason)] = refused(bad)
    assert line == line_of(bad, "- id: S1", nth=2)
    assert reason == "units.1.sections.0.id: duplicate id 'S1'"


def test_every_problem_is_reported_at_once_and_the_message_names_file_and_line() -> None:
    bad = with_mistake("roles: [staff]", "roles: [janitor]").replace(
        "time_limit_working_days: 5", "time_limit_working_days: -1"
    )
    with pytest.raises(DirectoryFileError) as caught:
        parse_directory(bad, "bad.yaml")
    lines = [line for line, _ in caught.value.problems]
    assert lines == [line_of(bad, "janitor"), line_of(bad, "time_limit_working_days: -1")]
    assert f"bad.yaml:{line_of(bad, 'janitor')}: units.0.staff.1.roles.0" in str(caught.value)


def test_a_file_that_is_not_a_mapping_is_refused_at_line_one() -> None:
    assert refused("- just\n- a list\n") == [
        (1, "the file must be a mapping with 'units:' at the top")
    ]


def test_a_missing_file_is_refused_with_the_reason(tmp_path: Path) -> None:
    with pytest.raises(DirectoryFileError) as caught:
        load_directory(tmp_path / "nowhere.yaml")
    [(line, reason)] = caught.value.problems
    assert line == 0 and reason.startswith("cannot read the file")
