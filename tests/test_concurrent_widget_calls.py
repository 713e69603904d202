"""Concurrent widget calls that each write the same row: one visitor's first conversations, one
session's logouts. On SQLite writes queue behind BEGIN IMMEDIATE; on PostgreSQL they race."""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Conversation, EndUser, RevokedSession

from .conftest import provision

ROUNDS, CALLS = 5, 6


def together(fn, count: int) -> list:
    with ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: fn(), range(count)))


def exercise(app, ed_key):
    tenant = provision(app, ed_key)
    base = f"/api/v1/widget/{tenant.public_id}"
    for _ in range(ROUNDS):
        session = app.test_client().post(f"{base}/set-user", json={"id": None}).get_json()["session"]
        auth = {"Authorization": f"Bearer {session}"}
        started = together(lambda: app.test_client().post(f"{base}/conversations", json={"body": "hi"},
                                                          headers=auth).status_code, CALLS)
        assert started == [201] * CALLS
        ended = together(lambda: app.test_client().post(f"{base}/logout", headers=auth).status_code, CALLS)
        # Each logout succeeds or, arriving after another one committed, finds the session ended.
        assert 204 in ended and set(ended) <= {204, 401}, ended
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(EndUser)) == ROUNDS  # one row per visitor
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == ROUNDS * CALLS
        assert db.session.scalar(select(func.count()).select_from(RevokedSession)) == ROUNDS


def test_on_sqlite(app, ed_key):
    exercise(app, ed_key)


@pytest.mark.postgres
def test_on_postgresql(postgres_app, ed_key):
    exercise(postgres_app, ed_key)
