"""The one-time jti is used up by one cached statement: compiled once per process and dialect,
then served from SQLAlchemy's compiled cache (a dialect insert().on_conflict_do_update() has no
cache key and was compiled on every call). Its rule holds: a second use is token_replayed."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import event
from sqlalchemy.engine.default import CACHE_HIT, CACHE_MISS

from webapp.extensions import db

from ..conftest import provision


@pytest.fixture
def app(app_on_both):
    return app_on_both


def test_jti_statement_is_cached_and_a_replay_is_refused(app, ed_key):
    shop = provision(app, ed_key, "Shop")
    seen: list = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "used_jti" in statement and statement.lstrip().upper().startswith("INSERT"):
            seen.append(context.cache_hit)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "after_cursor_execute", record)
    try:
        client = shop.api_client()
        exp = int(time.time()) + 600
        for jti in ("one", "two", "three"):
            token = shop.sign({"id": f"u-{jti}", "jti": jti, "exp": exp})
            assert client.post(shop.url("set-user"), json={"jwt": token}).status_code == 200
        replay = client.post(shop.url("set-user"), json={"jwt": shop.sign({"id": "u-one", "jti": "one", "exp": exp})})
    finally:
        event.remove(engine, "after_cursor_execute", record)
    assert replay.status_code == 401 and replay.get_json()["error"]["code"] == "token_replayed"
    assert len(seen) == 4, seen
    assert seen[0] in (CACHE_HIT, CACHE_MISS) and seen[1:] == [CACHE_HIT] * 3, seen  # never NO_CACHE_KEY


def test_an_expired_jti_row_is_taken_over(app, ed_key):
    """A row past its exp + leeway, still waiting for the pruner, no longer makes a replay."""
    from datetime import datetime, timedelta, timezone

    from sqlalchemy import select

    from webapp.models import UsedJti

    shop = provision(app, ed_key, "Shop")
    with app.app_context():
        db.session.add(UsedJti(tenant_id=shop.id, jti="old", expires_at=datetime.now(timezone.utc) - timedelta(hours=1)))
        db.session.commit()
    token = shop.sign({"id": "u-old", "jti": "old", "exp": int(time.time()) + 600})
    client = shop.api_client()
    assert client.post(shop.url("set-user"), json={"jwt": token}).status_code == 200
    with app.app_context():
        expires = db.session.scalar(select(UsedJti.expires_at).where(UsedJti.jti == "old"))
        assert expires > datetime.now(timezone.utc) + timedelta(minutes=5)  # the new token's exp + leeway
        db.session.remove()
    again = client.post(shop.url("set-user"), json={"jwt": token})
    assert again.status_code == 401 and again.get_json()["error"]["code"] == "token_replayed"
