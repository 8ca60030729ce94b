"""The worker a faust service runs: its root logger stays at the service's log level."""

from __future__ import annotations

import logging
from pathlib import Path

import faust

from services.common.faust_base import make_app, worker_for
from services.common.settings import Settings


def _app(tmp_path: Path) -> faust.App:
    settings = Settings.model_validate({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9",
                                        "data_dir": tmp_path})
    return make_app(settings, "test-logging")


def _root() -> logging.Logger:
    """A stand-in for the root logger as mode's setup leaves it: one handler, at WARNING."""
    root = logging.Logger("stand-in-root", logging.WARNING)
    root.addHandler(logging.StreamHandler())
    return root


def test_a_service_worker_at_warning_keeps_its_root_logger_at_warning(tmp_path: Path):
    root = _root()
    worker_for(_app(tmp_path), "WARNING").on_setup_root_logger(root, logging.WARNING)
    assert root.level == logging.WARNING
    assert not root.isEnabledFor(logging.DEBUG)  # a log.debug costs nothing but the check
    assert len(root.handlers) == 1


def test_faust_s_own_worker_would_turn_the_root_logger_to_debug(tmp_path: Path):
    """What worker_for prevents: the spinner's handler, and every debug record built."""
    root = _root()
    faust.Worker(_app(tmp_path), loglevel="WARNING").on_setup_root_logger(root, logging.WARNING)
    assert root.level == logging.DEBUG
    assert len(root.handlers) == 2
