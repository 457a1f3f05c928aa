"""A local run logs what Lambda logs: INFO and WARNING lines survive the app being loaded by LocalDesk.

Chalice names its logger after the app (``relay-desk``), as Powertools names its logger after the
service (``relay-desk``): the same ``logging.Logger``. ``Chalice()`` sets that logger to ERROR unless a
handler already writes to the current ``sys.stdout``; LocalDesk loads the app inside an invocation whose
stdout it redirects, so before the fix every INFO line after the first invocation was dropped.
"""
from __future__ import annotations

import logging
import sys

import pytest

from chalicelib.local import LocalDesk
from chalicelib.observability import logger
from tests import chat
from tests.mail import compose


class _Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def fresh_app(monkeypatch):
    """The app imported anew by the desk, as in a new process (``import app`` runs ``Chalice(...)`` again).

    The logger's state is put back afterwards, whatever the app did to it.
    """
    shared = logging.getLogger(logger.service)
    saved = (shared.level, list(shared.handlers), shared.propagate)
    monkeypatch.delitem(sys.modules, "app", raising=False)
    yield
    shared.setLevel(saved[0])
    shared.handlers[:] = saved[1]
    shared.propagate = saved[2]


@pytest.fixture
def records():
    handler = _Records()
    logger.addHandler(handler)
    yield handler.records
    logger.removeHandler(handler)


def test_pipeline_info_lines_are_logged_after_the_app_was_loaded_inside_an_invocation(fresh_app, records):
    with LocalDesk(environment=dict(chat.SECRETS)) as desk:
        desk.receive_email(compose())  # invocation 1: ses_inbound, which loads the app
        desk.pump()  # invocation 2: process_inbound
        desk.receive_email(compose(subject="A second question"))
        desk.pump()

    processed = [r for r in records if r.getMessage() == "message processed"]
    assert [r.levelname for r in processed] == ["INFO", "INFO"]  # one per mail, the second as the first


def test_a_local_run_prints_the_pipelines_log_lines(fresh_app, capsys):
    """What someone running the desk locally sees: the JSON log lines, in the process's output."""
    with LocalDesk(environment=dict(chat.SECRETS)) as desk:
        response = chat.post_telegram(desk, chat.telegram_text())
        desk.pump()

    assert response.status_code == 200
    printed = capsys.readouterr().out
    assert '"level":"INFO"' in printed and '"message":"message processed"' in printed, printed[-2000:]
