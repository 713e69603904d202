"""`wsgi:app` plus fault-injection hooks, for gunicorn in tests only (tests/test_database_faults.py,
tests/test_answer_after_commit.py).

- `X-Test-Kill-Connection: 1`: after the view has run and committed, the session's PostgreSQL
  backend is terminated from another connection, with a transaction open on it: the
  end-of-request ROLLBACK then meets a connection the server closed, as during a restart.
- `X-Test-Fail-After-Commit: 1`: see tests/after_commit.py.
"""
import os
import time

import psycopg
from flask import request
from sqlalchemy import text

from webapp import create_app
from webapp.extensions import db

from tests.after_commit import break_database_after_commit

def _kill_backend(pid: int) -> None:
    dsn = os.environ["SIGNET_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 5
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "backend still alive"
            time.sleep(0.01)


app = create_app()
break_database_after_commit(app)


@app.after_request
def _kill_connection(response):
    if request.headers.get("X-Test-Kill-Connection") != "1":
        return response
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()  # opens a transaction
    _kill_backend(pid)
    return response
