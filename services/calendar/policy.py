"""Time-limit policy per unit: the presets of DOMAIN.md section 4, overridable per unit.

    PolicyBook
      ├── default: UnitPolicy          the source documents' values
      └── units: {unit_id: UnitPolicy} a unit's own settings (missing fields: the default's)
    load_policy_yaml(text) -> PolicyBook     a YAML document like this (`shouwen deadline-watch
                                             policy FILE` puts it in force):

    default:                 # every field optional; these are the presets
      forward_working_days: 2
      reply_working_days: 3  # 7 or 15 in units whose rules say so
      warning: {mode: share, share: 0.8}     # or {mode: one_working_day_left}
      ladder_delay_working_days: 1
      extension_share: 1.0   # an extension moves the due date by at most the limit again
    units:
      YMS-ZF: {reply_working_days: 7}

No I/O here; services.deadline_watch.store keeps the book in PostgreSQL.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, ValidationError

from events.deadline import Obligation
from events.fields import Channel

Days = Annotated[int, Field(ge=0, le=366)]


class WarningMode(StrEnum):
    share = "share"  # when this share of the limit has passed
    one_working_day_left = "one_working_day_left"  # at the start of the due day
    off = "off"


class WarningRule(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: WarningMode = WarningMode.share
    share: Annotated[float, Field(gt=0.0, lt=1.0, allow_inf_nan=False)] = 0.8


class UnitPolicy(BaseModel):
    """One unit's time limits (working days unless the name says calendar days)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    forward_working_days: Days = 2  # Wuwei art. 6
    reply_working_days: Days = 3  # Lufeng county; Yangmeishan 7 (special 15)
    reply_channels: frozenset[Channel] = frozenset(
        {Channel.letter, Channel.visit, Channel.online, Channel.hotline})
    accept_referral_working_days: Days = 2
    investigation_working_days: Days = 30  # used when the event does not say
    investigation_extension_working_days: Days = 15
    decision_delivery_working_days: Days = 10
    review_request_calendar_days: Days = 15
    review_decision_calendar_days: Days = 30
    warning: WarningRule = WarningRule()
    ladder_delay_working_days: Annotated[int, Field(ge=1, le=60)] = 1
    ladder_steps: Annotated[int, Field(ge=0, le=3)] = 3
    # how far an extension may move the due date, as a share of the original time limit
    # (checked by intake when it is asked for and when it is granted): 1 = the limit again
    extension_share: Annotated[float, Field(gt=0.0, le=3.0, allow_inf_nan=False)] = 1.0
    # windows of the other side (the inquirer's, the sanctioned person's): no warning, no ladder
    windows: frozenset[Obligation] = frozenset(
        {Obligation.review_request, Obligation.supply_materials})
    # the other units' accept_referral limits, from the same book (set by PolicyBook): a
    # cross-unit handoff is accepted under the RECEIVING unit's policy, not the referring one's
    _accept_referral: dict[str, int] = PrivateAttr(default_factory=dict)
    _accept_referral_default: int | None = PrivateAttr(default=None)

    def accept_referral_days(self, receiving_unit_id: str | None) -> int:
        """Working days the receiving unit's policy gives to accept a handoff."""
        if receiving_unit_id is None or self._accept_referral_default is None:
            return self.accept_referral_working_days
        return self._accept_referral.get(receiving_unit_id, self._accept_referral_default)


BASIS: dict[Obligation, str] = {
    Obligation.forward: "Wuwei art. 6",
    Obligation.reply: "Lufeng county",
    Obligation.complete: "matter catalogue (承诺时限)",
    Obligation.accept_referral: "unit policy",
    Obligation.investigation: "Lufeng county accountability rules",
    Obligation.decision_delivery: "Lufeng county accountability rules",
    Obligation.review_request: "Lufeng county accountability rules",
    Obligation.review_decision: "Lufeng county accountability rules",
}


class PolicyBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    default: UnitPolicy = UnitPolicy()
    units: dict[str, UnitPolicy] = {}
    _bound: tuple[UnitPolicy, dict[str, UnitPolicy]] | None = PrivateAttr(default=None)

    def model_post_init(self, context: Any, /) -> None:
        # each policy handed out knows every unit's accept_referral limit (copies: a default
        # instance may be shared between books)
        limits = {k: v.accept_referral_working_days for k, v in self.units.items()}
        bound = {k: v.model_copy() for k, v in self.units.items()}
        default = self.default.model_copy()
        for p in (default, *bound.values()):
            p._accept_referral = limits
            p._accept_referral_default = self.default.accept_referral_working_days
        self._bound = (default, bound)

    def for_unit(self, unit_id: str | None) -> UnitPolicy:
        default, units = self._bound or (self.default, self.units)
        return units.get(unit_id or "", default)


class PolicyError(ValueError):
    """A policy document that does not fit; the message names the field."""


def load_policy(data: Any) -> PolicyBook:
    """A book from parsed YAML/JSON; a unit's entry overrides only the fields it names."""
    if not isinstance(data, dict):
        raise PolicyError("the policy document must be a mapping with 'default' and 'units'")
    extra = set(data) - {"default", "units"}
    if extra:
        raise PolicyError(f"field {sorted(extra)[0]!r}: unknown (use 'default', 'units')")
    default = _unit(data.get("default") or {}, "default")
    units_raw = data.get("units") or {}
    if not isinstance(units_raw, dict):
        raise PolicyError("field 'units': must be a mapping of unit id to settings")
    base = default.model_dump()
    units = {}
    for k, v in units_raw.items():
        if not isinstance(v, dict | None):
            raise PolicyError(f"field 'units.{k}': must be a mapping of settings")
        units[str(k)] = _unit({**base, **(v or {})}, f"units.{k}")
    return PolicyBook(default=default, units=units)


def _unit(data: Any, where: str) -> UnitPolicy:
    try:
        return UnitPolicy.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        path = ".".join([where, *(str(p) for p in first["loc"])])
        raise PolicyError(f"field {path!r}: {first['msg']}") from None


def load_policy_yaml(text: str) -> PolicyBook:
    try:
        return load_policy(yaml.safe_load(text))
    except yaml.YAMLError as exc:
        raise PolicyError(f"not YAML: {exc}") from None
    except RecursionError:
        raise PolicyError("nested too deep to be a policy book") from None
