"""A test-only fault: the database goes away right after a request's commit.

With `X-Test-Fail-After-Commit: 1`, from the request's first commit on every statement it sends
fails as a lost connection does (the ORM's and the read path's alike, as OperationalError, which
the app answers 503 "retry shortly"). A request that read its row again after the commit to
build its answer would tell the client to retry a write that was stored. Used in-process
(tests/test_answer_after_commit.py) and under gunicorn (tests/fault_app.py).
"""
from flask import g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.exc import OperationalError

from webapp.extensions import db
from webapp.services.end_users import snapshots

FAIL_AFTER_COMMIT = "X-Test-Fail-After-Commit"


class ServerGone(Exception):
    """What the driver would raise: the server closed the connection."""


def _failing() -> bool:
    return has_request_context() and g.get("test_database_gone", False)


def break_database_after_commit(app) -> None:
    """Install the `X-Test-Fail-After-Commit` hook on `app` (also used in-process by tests)."""
    with app.app_context():
        engine = db.engine

    @event.listens_for(db.session, "after_commit")
    def _gone(session):
        if has_request_context() and request.headers.get(FAIL_AFTER_COMMIT) == "1":
            g.test_database_gone = True

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse(_conn, _cursor, statement, parameters, _context, _many):
        if _failing():
            raise OperationalError(statement, parameters, ServerGone("server closed the connection unexpectedly"))

    read = snapshots._run
    if getattr(read, "fails_after_commit", False):
        return

    def _read(statement, params):
        if _failing():
            raise OperationalError(statement, params, ServerGone("server closed the connection unexpectedly"))
        return read(statement, params)

    _read.fails_after_commit = True
    snapshots._run = _read


