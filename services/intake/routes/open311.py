"""Open311 GeoReport v2, JSON and XML, mapped onto the matter catalogue and cases.

    GET  /open311/v2/services.json                  the catalogue: service_code = matter code
    GET  /open311/v2/services/{code}.json           definition: the required materials, as
                                                    informational attributes (variable false)
    POST /open311/v2/requests.json                  opens a case on channel "online"
    GET  /open311/v2/requests.json                  requests submitted here, no personal data
    GET  /open311/v2/requests/{id}.json             one of them; id = the receipt number

A submission (form-encoded, as the spec says, or JSON) becomes a received event whose actor is
``inquirer:<receipt>``; the first responder is the on-duty staff member of the matter's
handling section with the fewest open cases, else of the service centre's general intake
section (综合受理; it also receives every matter an external body handles, and the reply's
``service_notice`` says where to go). Extension: the reply carries ``access_code``, which with
the receipt number opens /v1/public (status, rating, complaint). The ledger needs a name and a
contact, so ``first_name``/``last_name`` and ``phone``/``email`` are required here; the
location (``address_string``, ``lat``/``long``) is kept as the inquirer's address, personal
data, and also as the request's public location (``problem_location``: GeoReport publishes
it). Every path answers in XML too with ``.xml`` in place of ``.json`` (the spec's default
format; the OpenAPI document describes the JSON ones). A POST needs the ``api_key`` of a
client application (`shouwen open311 keys add NAME`; 400 without one, 403 for a key not in
force). ``jurisdiction_id``, where given, must be this deployment's
(``SHOUWEN_OPEN311_JURISDICTION_ID``; 404 otherwise), and a request list spans at most 90
days (400). A request view carries ``description``, ``address``, ``lat``/``long`` and
``expected_datetime`` (the due date, else the catalogue's limit counted from submission);
never a name, phone, e-mail or access code. Errors are RFC 9457 problem documents (as every
Shouwen error) whose ``errors`` member carries the spec's shape,
``[{"code": 400, "description": "field: why"}]`` (in XML the spec's ``<errors><error>``),
with that HTTP status; a refused submission writes nothing.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Coroutine, Mapping
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any, Literal

import psycopg
from fastapi import APIRouter, Depends, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from psycopg_pool import ConnectionPool
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)
from starlette.exceptions import HTTPException

from events.fields import PRINTABLE, Channel
from services.calendar import CIVIL_TIME
from services.calendar.cache import CalendarCache
from services.cases import index as case_index
from services.common.problems import Problem, problem
from services.common.text import clean_tree
from services.directory.index import DirectoryIndex, Person
from services.directory.model import Matter, Role
from services.intake.open311_keys import client_of
from services.intake.ratelimit import rate_limited
from services.intake.register import Inquiry, Receipt, register_inquiry
from services.intake.routes.public import STATUS_TEXT
from services.web.deps import DirectoryDep, RepoDep, WiringDep

SOURCE = "urn:shouwen:open311"
GENERAL_INTAKE = "综合受理"  # the service centre's general intake section has this in its name
PHONE = r"^\+?[0-9][0-9 \-]{5,20}[0-9]$"
EMAIL = r"^[^@\s\x00-\x1f\x7f]{1,64}@[^@\s\x00-\x1f\x7f]+\.[^@\s\x00-\x1f\x7f]+$"
RFC3339 = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?"
                     r"(?:[Zz]|[+ -][0-9]{2}:[0-9]{2})")  # ' ': an unescaped '+' in a URL
MAX_REQUESTS = 1000  # the spec's cap on one GET requests answer
DEFAULT_DAYS = 90  # the spec's default window when no dates or ids are given, and the most
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2100, 12, 31, tzinfo=UTC)


class Open311Error(BaseModel):
    code: int
    description: str


class Open311Failure(HTTPException):
    """An error answered in the spec's shape; ``descriptions`` each name the field."""

    def __init__(self, code: int, *descriptions: str,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(code, "; ".join(descriptions), headers)
        self.descriptions = descriptions


class Open311Route(APIRoute):
    """Turns validation errors and HTTP errors of these routes into Open311 errors."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            xml = request.url.path.endswith(".xml")
            try:
                return await handler(request)
            except RequestValidationError as exc:
                return _errors(400, [_described(e) for e in exc.errors()], xml=xml)
            except Open311Failure as exc:
                return _errors(exc.status_code, list(exc.descriptions), exc.headers, xml=xml)
            except HTTPException as exc:
                return _errors(exc.status_code, [str(exc.detail)], exc.headers, xml=xml)

        return route


def _errors(code: int, descriptions: list[str],
            headers: Mapping[str, str] | None = None, *, xml: bool = False) -> Response:
    """A problem document; the spec's [{"code", "description"}] list is its ``errors``
    (in XML, the spec's own ``<errors><error>`` document)."""
    bounded = [d[:500] for d in descriptions[:20]]
    errors = [{"code": code, "description": d} for d in bounded]
    if xml:
        return as_xml("errors", "error", errors, status_code=code, headers=headers)
    return problem(code, "; ".join(bounded), headers=headers, errors=errors)


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def _element(parent: ET.Element, name: str, value: Any) -> None:
    if isinstance(value, list):
        group = ET.SubElement(parent, name)
        for item in value:  # attributes -> attribute, values -> value
            _element(group, name[:-1] if name.endswith("s") else name, item)
    elif isinstance(value, dict):
        node = ET.SubElement(parent, name)
        for k, v in value.items():
            _element(node, k, v)
    else:
        node = ET.SubElement(parent, name)
        if value is not None:
            node.text = _text(value)


def as_xml(root: str, item: str, items: list[Any], *, status_code: int = 200,
           headers: Mapping[str, str] | None = None) -> Response:
    """GeoReport's XML: ``<root><item><field>value</field>...</item>...</root>``."""
    top = ET.Element(root)
    for one in items:
        _element(top, item, one.model_dump(mode="json") if isinstance(one, BaseModel) else one)
    return _xml_response(top, status_code, headers)


def one_xml(root: str, model: BaseModel) -> Response:
    """A single object (a service definition) as ``<root><field>...</field></root>``."""
    top = ET.Element(root)
    for k, v in model.model_dump(mode="json").items():
        _element(top, k, v)
    return _xml_response(top, 200, None)


def _xml_response(top: ET.Element, status_code: int,
                  headers: Mapping[str, str] | None) -> Response:
    body = b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(top, encoding="utf-8",
                                                                     xml_declaration=False)
    return Response(body, status_code=status_code, headers=dict(headers or {}),
                    media_type="application/xml")


def jurisdiction(request: Request, w: WiringDep) -> None:
    """A jurisdiction_id, where given, must be this deployment's (the spec: 404)."""
    given = request.query_params.get("jurisdiction_id")
    if given is not None and given != w.settings.open311_jurisdiction_id:
        raise Open311Failure(404, f"jurisdiction_id: unknown jurisdiction {given[:64]!r}")


def _described(error: Any) -> str:
    loc = [str(p) for p in error.get("loc", ()) if p not in ("query", "path", "body")]
    return f"{'.'.join(loc) or 'request'}: {error.get('msg', 'invalid')}"


ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": Problem, "description": why}
    for code, why in ((400, "a parameter is missing or invalid (the description names it)"),
                      (403, "api_key is not the key of a client application in force"),
                      (404, "no such service or request, or an unknown jurisdiction_id"),
                      (429, "too many requests"),
                      (503, "no directory is loaded, or no one is on duty to receive it"))
}
router = APIRouter(prefix="/open311/v2", tags=["open311"], route_class=Open311Route,
                   responses=ERRORS, dependencies=[Depends(jurisdiction)])


# -- the catalogue ----------------------------------------------------------------------------
class Service(BaseModel):
    service_code: str
    service_name: str
    description: str
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str
    group: str


class Attribute(BaseModel):
    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist",
                      "multivaluelist"]
    required: bool
    datatype_description: str | None
    order: int
    description: str


class ServiceDefinition(BaseModel):
    service_code: str
    attributes: list[Attribute]


def where_handled(index: DirectoryIndex, matter: Matter) -> str:
    """Who handles the matter and where, in the words the inquirer is told."""
    if matter.external_body is not None:
        b = index.bodies[matter.external_body]
        return (f"由{b.name}办理：地址 {b.address}，电话 {b.phone}，"
                f"联系人 {b.contact_person}")
    section, unit = index.sections[str(matter.section)]
    days = matter.time_limit_working_days
    limit = "即办（当场办结）" if days == 0 else f"承诺时限 {days} 个工作日"
    place = f"，{section.location}" if section.location else ""
    return f"由{unit.name}{section.name}办理{place}，{limit}"


@router.get("/services.json", response_model=list[Service])
def services(directory: DirectoryDep) -> list[Service]:
    return [
        Service(service_code=m.code, service_name=m.name,
                description=where_handled(directory, m), metadata=bool(m.materials),
                type="realtime", keywords=",".join(m.keywords), group=m.category)
        for m in directory.directory.matters
    ]


@router.get("/services.xml", include_in_schema=False)
def services_xml(directory: DirectoryDep) -> Response:
    return as_xml("services", "service", services(directory))


@router.get("/services/{service_code}.xml", include_in_schema=False)
def service_definition_xml(service_code: str, directory: DirectoryDep) -> Response:
    return one_xml("service_definition", service_definition(service_code, directory))


@router.get("/services/{service_code}.json", response_model=ServiceDefinition)
def service_definition(service_code: str, directory: DirectoryDep) -> ServiceDefinition:
    matter = _matter(directory, service_code, 404)
    attributes = [
        Attribute(variable=False, code=f"material_{i}", datatype="string", required=False,
                  datatype_description=None, order=i, description=f"所需材料：{name}")
        for i, name in enumerate(matter.materials, start=1)
    ]
    return ServiceDefinition(service_code=matter.code, attributes=attributes)


def _matter(index: DirectoryIndex, code: str, status: int) -> Matter:
    matter = index.matters.get(code)
    if matter is None:
        raise Open311Failure(status, f"service_code: unknown service {code[:64]!r}")
    return matter


# -- submitting a request ---------------------------------------------------------------------
Short = Annotated[str, Field(min_length=1, max_length=50, pattern=PRINTABLE)]
Line = Annotated[str, Field(min_length=1, max_length=300, pattern=PRINTABLE)]


class Submission(BaseModel):
    """A POST requests body. Unknown keys (``attribute[...]``, ``media_url``...) are ignored."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True)

    service_code: Annotated[str, Field(min_length=1, max_length=64)]
    description: Annotated[str, Field(min_length=1, max_length=3000, pattern=PRINTABLE)]
    first_name: Short | None = None
    last_name: Short | None = None
    phone: Annotated[str, Field(max_length=30, pattern=PHONE)] | None = None
    email: Annotated[str, Field(max_length=254, pattern=EMAIL)] | None = None
    address_string: Line | None = None
    address_id: Annotated[str, Field(min_length=1, max_length=64, pattern=PRINTABLE)] | None = None
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    long: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None
    api_key: Annotated[str, Field(max_length=200)] | None = None
    jurisdiction_id: Annotated[str, Field(max_length=200)] | None = None

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = {k: v for k, v in data.items() if not (isinstance(v, str) and not v.strip())}
            return clean_tree(data)  # services/common/text.py, as every other way in
        return data


def _ledger_problems(s: Submission) -> list[str]:
    problems = []
    if s.first_name is None and s.last_name is None:
        problems.append("first_name: a name (first_name or last_name) is required")
    if s.phone is None and s.email is None:
        problems.append("phone: a contact (phone or email) is required")
    if (s.lat is None) != (s.long is None):
        problems.append(f"{'long' if s.long is None else 'lat'}: give both lat and long")
    return problems


async def submission(request: Request) -> Submission:
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            data = await request.json()
        except ValueError:
            raise Open311Failure(400, "request: the body is not valid JSON") from None
    else:
        form = await request.form()
        data = {k: v for k, v in form.items() if isinstance(v, str)}
    if not isinstance(data, dict):
        raise Open311Failure(400, "request: the body must be an object of parameters")
    try:
        s = Submission.model_validate(data)
    except ValidationError as exc:
        raise Open311Failure(400, *[_described(e) for e in exc.errors()]) from None
    problems = _ledger_problems(s)
    if problems:
        raise Open311Failure(400, *problems)
    ours = request.app.state.wiring.settings.open311_jurisdiction_id
    if s.jurisdiction_id is not None and s.jurisdiction_id != ours:
        raise Open311Failure(404, f"jurisdiction_id: unknown jurisdiction "
                                  f"{s.jurisdiction_id[:64]!r}")
    if s.api_key is None:
        raise Open311Failure(400, "api_key: required (a client application's key, issued by "
                                  "`shouwen open311 keys add NAME`)")
    return s


class RequestCreated(BaseModel):
    service_request_id: str
    token: str | None
    service_notice: str
    account_id: str | None
    access_code: str = Field(description="Extension: with service_request_id (the receipt "
                             "number) it opens /v1/public status, rating and complaint.")


def _one_of_given(*names: str) -> dict[str, Any]:
    given = {"type": "string", "pattern": r"\S"}  # not blank
    return {"anyOf": [{"required": [n], "properties": {n: given}} for n in names]}


def _documented_body() -> dict[str, Any]:
    """The submission as the document states it: an optional field may also be blank (a
    form's empty input; taken as absent), and the ledger's needs (_ledger_problems) hold:
    a name and a contact."""
    schema = Submission.model_json_schema()
    for name, field in schema["properties"].items():
        if name not in schema["required"]:
            field["anyOf"] = [*field["anyOf"], {"type": "string", "pattern": r"^\s*$"}]
    schema["allOf"] = [_one_of_given("first_name", "last_name"), _one_of_given("phone", "email")]
    return schema


_BODY = _documented_body()
_SUBMIT_DOC = {"requestBody": {"required": True, "content": {
    "application/x-www-form-urlencoded": {"schema": _BODY}, "application/json": {"schema": _BODY},
}}}


@router.post("/requests.json", status_code=201, response_model=list[RequestCreated],
             dependencies=[Depends(rate_limited("open311"))], openapi_extra=_SUBMIT_DOC)
def create_request(s: Annotated[Submission, Depends(submission)], repo: RepoDep,
                   directory: DirectoryDep) -> list[RequestCreated]:
    matter = _matter(directory, s.service_code, 400)
    with repo.pool.connection() as conn, conn.transaction():
        if client_of(conn, str(s.api_key)) is None:
            raise Open311Failure(403, "api_key: not a key in force")
        responder = first_responder(conn, directory, matter)
        if responder is None:
            raise Open311Failure(503, "service_code: no staff member is on duty to receive it")
        receipt_number = repo.next_receipt_number(conn)
        receipt = register_inquiry(
            repo, conn, responder, _inquiry(s, matter), actor=f"inquirer:{receipt_number}",
            source=SOURCE, receipt_number=receipt_number,
        )
    return [RequestCreated(service_request_id=receipt.receipt_number, token=None,
                           service_notice=_notice(directory, matter, receipt),
                           account_id=None, access_code=receipt.access_code)]


@router.post("/requests.xml", status_code=201, include_in_schema=False,
             dependencies=[Depends(rate_limited("open311"))])
def create_request_xml(s: Annotated[Submission, Depends(submission)], repo: RepoDep,
                       directory: DirectoryDep) -> Response:
    return as_xml("service_requests", "request", create_request(s, repo, directory),
                  status_code=201)


def _inquiry(s: Submission, matter: Matter) -> Inquiry:
    names = [n for n in (s.first_name, s.last_name) if n]
    cjk = any("\u3400" <= ch <= "\u9fff" for ch in "".join(names))
    name = "".join(reversed(names)) if cjk else " ".join(names)  # 姓 first in Chinese
    where = [p for p in (s.address_string, s.address_id and f"address_id {s.address_id}",
                         s.lat is not None and f"{s.lat},{s.long}") if p]
    location = {"address": s.address_string, "lat": s.lat, "long": s.long}
    return Inquiry(channel=Channel.online, matter=f"[{matter.code}] {matter.name}：{s.description}",
                   inquirer_name=name, inquirer_phone=s.phone, inquirer_email=s.email,
                   inquirer_address="；".join(where) or None,
                   problem_location=location if any(v is not None for v in location.values())
                   else None)


def _notice(index: DirectoryIndex, matter: Matter, r: Receipt) -> str:
    materials = "、".join(matter.materials) or "无"
    return (f"已登记，受理编号 {r.receipt_number}。首问责任人：{r.first_responder_name}"
            f"（{r.first_responder_duty}），电话 {r.first_responder_contact}。"
            f"{where_handled(index, matter)}。所需材料：{materials}。"
            "凭受理编号和查询码（access_code）可查询进度、评价服务或投诉。")


def general_intake_section(index: DirectoryIndex) -> str | None:
    """The service centre's general intake section: a section named 综合受理, preferring the
    unit that has centre administrators; else the section of the catalogue's 综合服务."""
    units = sorted(index.directory.units,
                   key=lambda u: not any(Role.centre_admin in s.roles for s in u.staff))
    for unit in units:
        for section in unit.sections:
            if GENERAL_INTAKE in section.name:
                return section.id
    return next((m.section for m in index.directory.matters
                 if m.category == "综合服务" and m.section), None)


def first_responder(conn: psycopg.Connection, index: DirectoryIndex,
                    matter: Matter) -> Person | None:
    """The on-duty staff member with the fewest open cases: in the matter's handling section,
    else in the general intake section."""
    for section_id in (matter.section, general_intake_section(index)):
        if section_id is None:
            continue
        on_duty = [p for p in index.staff_of_section(section_id) if p.staff.on_duty]
        front = [p for p in on_duty if Role.staff in p.roles] or on_duty
        if front:
            load = case_index.open_handled(conn, [p.staff.id for p in front])
            return min(front, key=lambda p: (load.get(p.staff.id, 0), p.staff.id))
    return None


# -- tracking requests ------------------------------------------------------------------------
class ServiceRequest(BaseModel):
    """A request as anyone may see it, as GeoReport publishes it: the problem (description,
    where it is); never the inquirer's name, contact or access code."""

    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str
    service_name: str | None
    service_code: str | None
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: datetime
    updated_datetime: datetime
    expected_datetime: datetime | None
    address: str | None
    lat: float | None
    long: float | None


def _csv(value: str | None, field: str, allowed: set[str] | None = None) -> list[str] | None:
    items = [v.strip() for v in (value or "").split(",") if v.strip()]
    bad = [v for v in items if allowed is not None and v not in allowed]
    if bad:
        raise Open311Failure(400, f"{field}: {bad[0][:64]!r} is not one of {sorted(allowed or ())}")
    return items or None


def _rfc3339(value: Any) -> Any:
    """Only the documented format (date-time): pydantic would also take a bare number as
    seconds since 1970, and a date or time without its offset."""
    if not (isinstance(value, str) and RFC3339.fullmatch(value)):
        raise ValueError("a date and time with its offset is required, "
                         "e.g. 2026-11-17T09:00:00+08:00")
    return value[:-6] + "+" + value[-5:] if value[-6] == " " else value


DateTime = Annotated[datetime, BeforeValidator(_rfc3339)]


def _list_filters(
    service_request_id: Annotated[str | None, Query(max_length=2000)] = None,
    service_code: Annotated[str | None, Query(max_length=2000)] = None,
    status: Annotated[str | None, Query(max_length=20)] = None,
    start_date: DateTime | None = None,
    end_date: DateTime | None = None,
    jurisdiction_id: Annotated[str | None, Query(max_length=200)] = None,
) -> dict[str, Any]:
    """The list's query parameters (both formats'), as ``cases.index.public_requests``'s
    filters."""
    ids = _csv(service_request_id, "service_request_id")
    params: dict[str, Any] = {"source": SOURCE, "ids": ids, "limit": MAX_REQUESTS,
                              "codes": None, "statuses": None, "start": None, "end": None}
    if ids is None:  # the spec: with ids, the other filters are ignored
        start, end = _window(start_date, end_date)
        params.update(codes=_csv(service_code, "service_code"), start=start, end=end,
                      statuses=_csv(status, "status", {"open", "closed"}))
    return params


ListFilters = Annotated[dict[str, Any], Depends(_list_filters)]


@router.get("/requests.json", response_model=list[ServiceRequest])
def list_requests(repo: RepoDep, directory: DirectoryDep, w: WiringDep,
                  filters: ListFilters) -> list[ServiceRequest]:
    return _requests(repo.pool, directory, filters, w.calendars)


@router.get("/requests.xml", include_in_schema=False)
def list_requests_xml(repo: RepoDep, directory: DirectoryDep, w: WiringDep,
                      filters: ListFilters) -> Response:
    found = _requests(repo.pool, directory, filters, w.calendars)
    return as_xml("service_requests", "request", found)


def _window(start: datetime | None, end: datetime | None) -> tuple[datetime, datetime | None]:
    """The spec's window: at most 90 days (by default the last 90), within 2000..2100."""
    for value, name in ((start, "start_date"), (end, "end_date")):
        if value is not None and not EARLIEST <= value <= LATEST:
            raise Open311Failure(400, f"{name}: between {EARLIEST:%Y-%m-%d} and "
                                      f"{LATEST:%Y-%m-%d}")
    if start is not None and end is not None and end < start:
        raise Open311Failure(400, "end_date: before start_date")
    last = end or datetime.now(UTC)
    first = start or last - timedelta(days=DEFAULT_DAYS)
    if last - first > timedelta(days=DEFAULT_DAYS):
        raise Open311Failure(400, f"start_date: at most {DEFAULT_DAYS} days before "
                                  f"{'end_date' if end else 'now'}")
    return first, end


@router.get("/requests/{service_request_id}.json", response_model=list[ServiceRequest])
def get_request(service_request_id: Annotated[str, Path(max_length=64)], repo: RepoDep,
                directory: DirectoryDep, w: WiringDep) -> list[ServiceRequest]:
    params = {"source": SOURCE, "ids": [service_request_id.strip().upper()], "codes": None,
              "statuses": None, "start": None, "end": None, "limit": 1}
    found = _requests(repo.pool, directory, params, w.calendars)
    if not found:
        raise Open311Failure(404, f"service_request_id: no request {service_request_id[:64]!r}")
    return found


@router.get("/requests/{service_request_id}.xml", include_in_schema=False)
def get_request_xml(service_request_id: Annotated[str, Path(max_length=64)], repo: RepoDep,
                    directory: DirectoryDep, w: WiringDep) -> Response:
    found = get_request(service_request_id, repo, directory, w)
    return as_xml("service_requests", "request", found)


def _requests(pool: ConnectionPool, index: DirectoryIndex, params: dict[str, Any],
              calendars: CalendarCache) -> list[ServiceRequest]:
    with pool.connection() as conn:
        rows = case_index.public_requests(conn, **params)
        book = calendars.get(conn) if rows else None
    return [_public(index, row, book) for row in rows]


def _public(index: DirectoryIndex, row: dict[str, Any], book: Any) -> ServiceRequest:
    matter = index.matters.get(row["service_code"] or "")
    external = matter is not None and matter.external_body is not None
    where = row.get("location") or {}
    return ServiceRequest(
        service_request_id=row["receipt_number"],
        status="closed" if row["status"] == "closed" else "open",
        status_notes=STATUS_TEXT.get(row["status"], row["status"]),
        service_name=matter.name if matter else None, service_code=row["service_code"],
        description=_description(row.get("matter")),
        agency_responsible=_agency(index, row, matter),
        service_notice=where_handled(index, matter) if matter and external else None,
        requested_datetime=row["opened_at"], updated_datetime=row["updated_at"],
        expected_datetime=_expected(row, matter, book),
        address=where.get("address"), lat=where.get("lat"), long=where.get("long"),
    )


def _description(matter: str | None) -> str | None:
    """What was submitted: the received matter without the "[code] name：" put before it."""
    if matter is None:
        return None
    return matter.split("：", 1)[1] if matter.startswith("[") and "：" in matter else matter


def _expected(row: dict[str, Any], matter: Matter | None, book: Any) -> datetime | None:
    """The due date the handler committed to, else the catalogue's limit for the matter
    counted from submission on the receiving unit's calendar (as the notice said)."""
    if row["due_date"] is not None:
        return _end_of(row["due_date"])
    if row["status"] == "closed" or matter is None or book is None:
        return None
    days = matter.time_limit_working_days
    if days is None:
        return None
    return _end_of(book.for_unit(row["unit_id"]).add_working_days(row["opened_at"], days).day)


def _agency(index: DirectoryIndex, row: dict[str, Any], matter: Matter | None) -> str | None:
    if matter is not None and matter.external_body is not None:
        return index.bodies[matter.external_body].name
    if row["section_id"] in index.sections:
        return index.sections[row["section_id"]][1].name
    if matter is not None and matter.unit in index.units:
        return index.units[str(matter.unit)].name
    unit = index.units.get(row["unit_id"])
    return unit.name if unit else None


def _end_of(day: date | None) -> datetime | None:
    """A due date as the end of that day, China time (the official calendar's)."""
    return datetime.combine(day, time(23, 59, 59), CIVIL_TIME) if day else None

