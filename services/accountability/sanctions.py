"""The sanction proposed for one person: the repeat-violation step, then the circumstances.

    violation  1st ─▶ criticism_and_apology     (服务承诺: criticism, apology to the inquirer)
               2nd ─▶ circulated_criticism      (通报批评)
               3rd ─▶ efficiency_warning        (效能告诫)
               4th and more ─▶ removal_from_post (调离/下岗: "3rd and more: transfer")
    force_majeure                    ─▶ none (no accountability)
    each other mitigating one        ─▶ one step lighter on the ladder (floor: none)
    each aggravating one             ─▶ one step heavier (ceiling: removal_from_post)
    other                            recorded only

The ladder is ``events.accountability.Sanction`` in its declared order, mildest first. The
violation number counts the person's findings still in force (not revoked on review) in
earlier procedures, plus this one. Pure.
"""

from __future__ import annotations

from collections.abc import Iterable

from events.accountability import AGGRAVATING, MITIGATING, Circumstance, Sanction

LADDER: tuple[Sanction, ...] = tuple(Sanction)
NO_ACCOUNTABILITY = frozenset({Circumstance.force_majeure})


def repeat_step(violation_number: int) -> Sanction:
    if violation_number < 1:
        raise ValueError("violation_number starts at 1")
    if violation_number == 1:
        return Sanction.criticism_and_apology
    if violation_number == 2:
        return Sanction.circulated_criticism
    if violation_number == 3:
        return Sanction.efficiency_warning
    return Sanction.removal_from_post


def misplaced(mitigating: Iterable[Circumstance], aggravating: Iterable[Circumstance]
              ) -> str | None:
    """Why the circumstances are listed on the wrong side, or None if they are not."""
    for c in mitigating:
        if c in AGGRAVATING:
            return f"mitigating: {c.value!r} is an aggravating circumstance"
    for c in aggravating:
        if c in MITIGATING:
            return f"aggravating: {c.value!r} is a mitigating circumstance"
    return None


def adjust(sanction: Sanction, mitigating: Iterable[Circumstance],
           aggravating: Iterable[Circumstance]) -> Sanction:
    lighter = set(mitigating) & MITIGATING
    if lighter & NO_ACCOUNTABILITY:
        return Sanction.none
    heavier = set(aggravating) & AGGRAVATING
    index = LADDER.index(sanction) - len(lighter) + len(heavier)
    return LADDER[max(0, min(index, len(LADDER) - 1))]


def propose(violation_number: int, mitigating: Iterable[Circumstance] = (),
            aggravating: Iterable[Circumstance] = ()) -> Sanction:
    return adjust(repeat_step(violation_number), mitigating, aggravating)
