"""Accountability procedures and evaluation over HTTP (supervisors, 纪检监察).

    POST /v1/cases/{case_id}/accountability            open a procedure from a complaint (201)
    GET  /v1/accountability?open=                      the procedures, soonest due first
    GET  /v1/accountability/{procedure_id}             stage, due dates, steps, next steps,
                                                       the proposed chain while investigating
    POST /v1/accountability/{procedure_id}/<step>      verify proposal investigate extend decide
                                                       deliver review-request review-decide close
    GET  /v1/evaluation/{staff|units}/{id}?year=       score, grade, the 12345 rates
    POST /v1/evaluation/{staff|units}/{id}/assessment  the assessment group's score (201)

Every step is one event on the case's stream with the caller as actor. Supervisors only
(403), except review-request: the sanctioned person themselves. 409 with the stage when a
step is not allowed now; 422 naming the field; 404 for an unknown procedure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Response, status
from psycopg_pool import ConnectionPool

from services.accountability import commands, store
from services.accountability import models as m
from services.accountability.commands import OpenRefused, ProcedureNotFound
from services.accountability.procedure import StepNotAllowed
from services.accountability.views import (
    AssessmentOut,
    EvaluationView,
    ProcedureList,
    ProcedureView,
    evaluation_of,
    view_of,
)
from services.calendar.builtin import today
from services.cases.repository import CaseRepository
from services.common.problems import problem, responses
from services.directory.index import DirectoryIndex, Person
from services.domain.errors import CommandRefused, NotPermitted
from services.web.deps import DirectoryDep, PoolDep, RepoDep, StaffDep

router = APIRouter(tags=["accountability"], responses=responses(401, 403, 503))

CaseId = Annotated[str, Path(pattern=r"^C-[0-9a-f]{32}$", description="the case id")]
ProcedureId = Annotated[str, Path(pattern=r"^AP-[0-9a-f]{32}$", description="the procedure id")]
SubjectId = Annotated[str, Path(min_length=1, max_length=64,
                                pattern=r"^[A-Za-z0-9][A-Za-z0-9._\-]*$")]
Year = Annotated[int | None, Query(ge=2000, le=2100, description="default: this year")]


def _run(work: Callable[[], Any]) -> Any:
    """The result, or the refusal as a problem response."""
    try:
        return work()
    except CommandRefused as exc:
        return problem(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc))
    except NotPermitted as exc:
        return problem(status.HTTP_403_FORBIDDEN, str(exc))
    except ProcedureNotFound:
        return problem(status.HTTP_404_NOT_FOUND, "no such procedure (or case) within your scope")
    except StepNotAllowed as exc:
        return problem(status.HTTP_409_CONFLICT, str(exc), action=exc.step,
                       stage=exc.state.stage.value)
    except OpenRefused as exc:
        return problem(status.HTTP_409_CONFLICT, str(exc), action="open")


@router.post("/v1/cases/{case_id}/accountability", status_code=201,
             response_model=ProcedureView, responses=responses(400, 404, 409, 422))
def open_procedure(case_id: CaseId, body: m.Open, staff: StaffDep, pool: PoolDep,
                   repo: RepoDep, directory: DirectoryDep, response: Response) -> Any:
    def work() -> ProcedureView:
        with pool.connection() as conn:
            state = commands.open_procedure(repo, conn, directory, staff, case_id, body)
            view = view_of(conn, directory, staff, state, today())
        response.headers["Location"] = f"/v1/accountability/{state.procedure_id}"
        return view

    return _run(work)


@router.get("/v1/accountability", response_model=ProcedureList)
def list_procedures(staff: StaffDep, pool: PoolDep, open: bool = True,
                    limit: Annotated[int, Query(ge=1, le=500)] = 200) -> Any:
    def work() -> ProcedureList:
        commands.require_supervisor(staff, "list")
        with pool.connection() as conn:
            rows = store.list_procedures(conn, open_only=open, limit=limit)
        return ProcedureList.model_validate({"items": rows})

    return _run(work)


@router.get("/v1/accountability/{procedure_id}", response_model=ProcedureView,
            responses=responses(404, 422))
def read(procedure_id: ProcedureId, staff: StaffDep, pool: PoolDep, repo: RepoDep,
         directory: DirectoryDep) -> Any:
    def work() -> ProcedureView:
        with pool.connection() as conn:
            loaded = commands.load(repo, conn, staff, procedure_id)
            return view_of(conn, directory, staff, loaded.procedure, today(),
                           case_version=loaded.case.version)

    return _run(work)


def _step(step: str, body: m.Action, staff: Person, pool: ConnectionPool,
          repo: CaseRepository, directory: DirectoryIndex, procedure_id: str) -> Any:
    def work() -> ProcedureView:
        with pool.connection() as conn:
            state = commands.act(repo, conn, directory, staff, procedure_id, step, body)
            return view_of(conn, directory, staff, state, today())

    return _run(work)


def _route(path: str, summary: str) -> Callable[[Callable[..., Any]], Any]:
    return router.post(f"/v1/accountability/{{procedure_id}}/{path}", summary=summary,
                       response_model=ProcedureView, responses=responses(400, 404, 409, 422))


@_route("verify", "Preliminary verification (初核); proceed=false dismisses it")
def verify(procedure_id: ProcedureId, body: m.Verify, staff: StaffDep, pool: PoolDep,
           repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("verify", body, staff, pool, repo, directory, procedure_id)


@_route("proposal", "The written proposal to investigate (书面意见)")
def proposal(procedure_id: ProcedureId, body: m.Proposal, staff: StaffDep, pool: PoolDep,
             repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("proposal", body, staff, pool, repo, directory, procedure_id)


@_route("investigate", "An investigation group takes it (30 working days)")
def investigate(procedure_id: ProcedureId, body: m.Investigate, staff: StaffDep,
                pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("investigate", body, staff, pool, repo, directory, procedure_id)


@_route("extend", "Approved extension of the investigation (+15 working days, once)")
def extend(procedure_id: ProcedureId, body: m.Extend, staff: StaffDep, pool: PoolDep,
           repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("extend", body, staff, pool, repo, directory, procedure_id)


@_route("decide", "The leadership's decision: responsibility chain and sanctions")
def decide(procedure_id: ProcedureId, body: m.Decide, staff: StaffDep, pool: PoolDep,
           repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("decide", body, staff, pool, repo, directory, procedure_id)


@_route("deliver", "The decision delivered, rights told (within 10 working days)")
def deliver(procedure_id: ProcedureId, body: m.Deliver, staff: StaffDep, pool: PoolDep,
            repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("deliver", body, staff, pool, repo, directory, procedure_id)


@_route("review-request", "The sanctioned person asks for a review (within 15 days)")
def review_request(procedure_id: ProcedureId, body: m.ReviewRequest, staff: StaffDep,
                   pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("review_request", body, staff, pool, repo, directory, procedure_id)


@_route("review-decide", "The review's decision (within 30 days)")
def review_decide(procedure_id: ProcedureId, body: m.ReviewDecide, staff: StaffDep,
                  pool: PoolDep, repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("review_decide", body, staff, pool, repo, directory, procedure_id)


@_route("close", "Close it (withdraw: true before the decision)")
def close(procedure_id: ProcedureId, body: m.Close, staff: StaffDep, pool: PoolDep,
          repo: RepoDep, directory: DirectoryDep) -> Any:
    return _step("close", body, staff, pool, repo, directory, procedure_id)


# ---------------------------------------------------------------- evaluation

def _subject(directory: DirectoryIndex, staff: Person, kind: str, subject_id: str,
             assess: bool) -> None:
    known = (directory.person(subject_id) if kind == "staff"
             else directory.units.get(subject_id))
    if known is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {kind} {subject_id!r} in the "
                            "directory in force")
    if not commands.may_evaluate(staff, kind, subject_id, assess):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "evaluation: for the assessment group "
                            "(supervisor, admin), the centre's office and oneself; assessment "
                            "scores: the assessment group only")


@router.get("/v1/evaluation/{kind}/{subject_id}", response_model=EvaluationView,
            responses=responses(404, 422))
def evaluation(kind: Annotated[str, Path(pattern="^(staff|units)$")], subject_id: SubjectId,
               staff: StaffDep, pool: PoolDep, directory: DirectoryDep,
               year: Year = None) -> EvaluationView:
    k = "staff" if kind == "staff" else "unit"
    _subject(directory, staff, k, subject_id, assess=False)
    with pool.connection() as conn:
        return evaluation_of(conn, k, subject_id, year or today().year)


@router.post("/v1/evaluation/{kind}/{subject_id}/assessment", status_code=201,
             response_model=AssessmentOut, responses=responses(400, 404, 422))
def assess(kind: Annotated[str, Path(pattern="^(staff|units)$")], subject_id: SubjectId,
           body: m.Assessment, staff: StaffDep, pool: PoolDep,
           directory: DirectoryDep) -> AssessmentOut:
    k = "staff" if kind == "staff" else "unit"
    _subject(directory, staff, k, subject_id, assess=True)
    with pool.connection() as conn:
        row = store.add_assessment(conn, k, subject_id, body.year, body.score, body.note,
                                   f"staff:{staff.staff.id}")
    return AssessmentOut(**row)
