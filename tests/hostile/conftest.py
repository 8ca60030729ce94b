"""The apps under attack, as served, with a 500 returned as a response (not raised) so a
probe can count it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient


@pytest.fixture
def intake_app(db_settings, demo_directory) -> Iterator[TestClient]:
    from services.intake.app import create_app

    with TestClient(create_app(db_settings), raise_server_exceptions=False) as client:
        yield client


@pytest.fixture
def ledger_app(db_settings, demo_directory) -> Iterator[TestClient]:
    from services.apps import ledger as create_app  # as served: the dashboard mounted

    with TestClient(create_app(db_settings), raise_server_exceptions=False) as client:
        yield client
