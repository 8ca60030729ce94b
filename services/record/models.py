"""The shape of a replayed case history (history.py builds it; render.py and the API show
it; services/proof puts it in dispute bundles).

    CaseHistory
      ├── steps[]: Step   version, time, recorded_at, type, actor (ActorView: name, post,
      │                   unit as the directory stood then), did, said, status and the
      │                   responsible person after the step, the deadline in force, hash
      ├── state           the case as of then (case_summary + 台账 columns), or None
      └── verification    the hash-chain check of the whole stream (chain.ChainCheck)
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from services.record.chain import ChainCheck


class ActorView(BaseModel):
    ref: str  # as recorded: staff:ZX005, inquirer:..., service:routing, system:...
    kind: str
    name: str | None = None
    post: str | None = None  # duty and roles
    unit_id: str | None = None
    unit_name: str | None = None


class Step(BaseModel):
    version: int
    time: datetime
    recorded_at: datetime
    type: str
    actor: ActorView
    did: str
    said: str | None
    status: str  # after this step
    responsible_id: str  # who held responsibility after this step
    responsible_name: str
    deadline_in_force: str | None
    event_id: str
    hash: str


class CaseHistory(BaseModel):
    case_id: str
    receipt_number: str
    unit_id: str
    as_of: datetime | None
    generated_at: datetime
    personal_data: bool
    events_total: int  # in the stream today; ``steps`` stop at as_of
    steps: list[Step]
    state: dict[str, Any] | None  # None: the case did not exist yet at as_of
    missing_haves: list[str]
    verification: ChainCheck
    directory_versions: list[int]  # the directory versions actors were resolved against
