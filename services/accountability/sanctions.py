"""The sanction proposed for one person: the repeat-violation step, then the circumstances.

    violation  1st ─▶ criticism_and_apology     (服务承诺: criticism, apology to the inquirer)
               2nd ─▶ circulated_criticism      (通报批评)
               3rd ─▶ efficiency_warning        (效能告诫)
               4th and more ─▶ removal_from_post (调离/下岗: "3rd and more: transfer")
    force_majeure                    ─▶ none (no accountability)
    each other mitigating one        ─▶ one step lighter on the ladder (floor: none)
    each aggravating one             ─▶ one step heavier (ceiling: removal_from_post)
    other                            recorded only

Enforced (``refused``): a sanction the decision names must be one the ladder allows for the
violation number (1st criticism and apology; 2nd circulated criticism; 3rd and more an
efficiency warning or removal from the post), or the one the circumstances propose. A lighter
one needs a mitigating circumstance, a heavier one an aggravating one, and either a
``circumstances_note`` saying why: the deviation's reason is on the record.

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


def allowed(violation_number: int) -> tuple[Sanction, ...]:
    """The sanctions the repeat-violation ladder allows for this violation number."""
    if violation_number >= 3:
        return (Sanction.efficiency_warning, Sanction.removal_from_post)
    return (repeat_step(violation_number),)


def refused(violation_number: int, sanction: Sanction, mitigating: Iterable[Circumstance],
            aggravating: Iterable[Circumstance], note: str | None) -> str | None:
    """Why a named sanction may not stand, or None: off the ladder without a recorded
    reason (a circumstance on the side it deviates to, and a note)."""
    mitigating, aggravating = list(mitigating), list(aggravating)
    steps = allowed(violation_number)
    if sanction in steps or sanction is propose(violation_number, mitigating, aggravating):
        return None
    lighter = LADDER.index(sanction) < LADDER.index(steps[0])
    reasons = mitigating if lighter else aggravating
    nth = {1: "1st", 2: "2nd", 3: "3rd"}.get(violation_number, f"{violation_number}th")
    if not reasons or not (note or "").strip():
        side = "mitigating" if lighter else "aggravating"
        return (f"sanction: the {nth} violation calls for "
                + " or ".join(s.value for s in steps)
                + f"; {sanction.value} is {'lighter' if lighter else 'heavier'} and needs a "
                f"{side} circumstance and a circumstances_note giving the reason")
    return None


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
