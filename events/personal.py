"""Mask an inquirer's personal data in event data before it reaches a log line or a metric.

    mask_event_data("shouwen.case.received.v1", data)
        inquirer_name   张三           ->  张*
        inquirer_phone  13800000000    ->  138****0000
        inquirer_email  zhang@x.cn     ->  z***@x.cn
        other personal  北京市朝阳区…   ->  北****** (first character kept)

Which fields are personal comes from the payload model's JSON Schema marks
(``x-personal-data``), following ``$ref``, every branch of ``anyOf``/``oneOf``, nested objects
and arrays. Keys the schema does not know, and every string of an unknown event type, are
masked as well: a log line never carries what the contract cannot vouch for.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Union

from events.fields import PERSONAL_MARK
from events.registry import EventPayload, UnknownEventType, model_for

_PHONE = re.compile(r"\+?[0-9][0-9 \-]{5,20}[0-9]")
_MAX_STARS = 6


@dataclass(frozen=True)
class _Object:
    fields: dict[str, Plan]


@dataclass(frozen=True)
class _Array:
    items: Plan


# True: mask the whole value; False: keep it; _Object/_Array: look inside.
Plan = Union[bool, _Object, _Array]  # noqa: UP007 (a runtime alias the dataclasses refer to)


def mask_text(text: str) -> str:
    """Phone: first 3 and last 4 digits; email: first letter and domain; else first char."""
    digits = re.sub(r"\D", "", text)
    if text.startswith("+86"):
        digits = digits[2:]  # the national number is what people recognise
    if _PHONE.fullmatch(text) and 7 <= len(digits) <= 15:
        if len(digits) >= 11:
            return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]
        return "*" * (len(digits) - 4) + digits[-4:]
    local, at, domain = text.partition("@")
    if at and local and domain:
        return f"{local[0]}***@{domain}"
    if len(text) <= 1:
        return "*"
    return text[0] + "*" * min(len(text) - 1, _MAX_STARS)


def mask_event_data(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``data`` with every personal field masked (see the module docstring)."""
    try:
        plan = _plan_for(model_for(event_type))
    except UnknownEventType:
        plan = True
    masked = _apply(plan, data)
    return masked if isinstance(masked, dict) else {}


@cache
def plan_for_type(event_type: str) -> Plan:
    """Where a type's personal fields are, and only those (False: it has none; unknown
    types have none). Unlike masking's plan, keys the schema does not know are left out."""
    try:
        return _personal_only(_plan_for(model_for(event_type)))
    except UnknownEventType:
        return False


def _personal_only(plan: Plan) -> Plan:
    if isinstance(plan, _Object):
        fields: dict[str, Plan] = {
            k: p for k, v in plan.fields.items() if (p := _personal_only(v)) is not False}
        return _Object(fields) if fields else False
    if isinstance(plan, _Array):
        items = _personal_only(plan.items)
        return _Array(items) if items is not False else False
    return plan


@cache
def _plan_for(model: type[EventPayload]) -> Plan:
    schema = model.model_json_schema()
    return _plan(schema, schema.get("$defs", {}))


def _plan(schema: dict[str, Any], defs: dict[str, Any]) -> Plan:
    if schema.get(PERSONAL_MARK):
        return True
    if "$ref" in schema:
        return _plan(defs[schema["$ref"].rsplit("/", 1)[-1]], defs)
    branches = schema.get("anyOf", []) + schema.get("oneOf", []) + schema.get("allOf", [])
    if branches:
        plan: Plan = False
        for branch in branches:
            plan = _merge(plan, _plan(branch, defs))
        return plan
    if schema.get("type") == "object":
        props = schema.get("properties", {})
        return _Object({name: _plan(sub, defs) for name, sub in props.items()})
    if schema.get("type") == "array":
        return _Array(_plan(schema.get("items", {}), defs))
    return False


def _merge(a: Plan, b: Plan) -> Plan:
    """The plan for a value that may have either shape: personal if either says so."""
    if a is False:
        return b
    if b is False:
        return a
    if isinstance(a, _Object) and isinstance(b, _Object):
        names = a.fields.keys() | b.fields.keys()
        return _Object({n: _merge(a.fields.get(n, False), b.fields.get(n, False)) for n in names})
    if isinstance(a, _Array) and isinstance(b, _Array):
        return _Array(_merge(a.items, b.items))
    return True


def _apply(plan: Plan, value: Any) -> Any:
    if plan is False or value is None:
        return value
    if isinstance(plan, _Object) and isinstance(value, dict):
        return {k: _apply(plan.fields.get(k, True), v) for k, v in value.items()}
    if isinstance(plan, _Array) and isinstance(value, list):
        return [_apply(plan.items, v) for v in value]
    return _mask_all(value)  # personal, or not the shape the schema promised


def _mask_all(value: Any) -> Any:
    if isinstance(value, str):
        return mask_text(value)
    if isinstance(value, list):
        return [_mask_all(v) for v in value]
    if isinstance(value, dict):
        return {k: _mask_all(v) for k, v in value.items()}
    return value
