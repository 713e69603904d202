"""`wsgi:app` plus one fault-injection hook, for gunicorn in tests only (tests/test_database_faults.py).

A request carrying `X-Test-Kill-Connection: 1` gets, after its view has run and committed, its
session's PostgreSQL backend terminated from another connection, with a transaction open on it:
the end-of-request ROLLBACK then meets a connection the server closed, as during a restart.
"""
import os
import time

import psycopg
from flask import request
from sqlalchemy import text

from webapp import create_app
from webapp.extensions import db

app = create_app()


@app.after_request
def _kill_connection(response):
    if request.headers.get("X-Test-Kill-Connection") != "1":
        return response
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar()  # opens a transaction
    dsn = os.environ["SIGNET_DATABASE_URL"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute("SELECT pg_terminate_backend(%s)", (pid,))
        deadline = time.monotonic() + 5
        while other.execute("SELECT 1 FROM pg_stat_activity WHERE pid = %s", (pid,)).fetchone():
            assert time.monotonic() < deadline, "backend still alive"
            time.sleep(0.01)
    return response
