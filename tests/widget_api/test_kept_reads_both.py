"""Kept reads on both databases (infra/read_connections.memoized), issue 18: SQLite keeps every
read while `PRAGMA data_version` stands; PostgreSQL keeps a one-row read while the statement's own
snapshot (`pg_current_snapshot()`) stands, checked by the server in the read's own round trip.

Who may claim what is unchanged by them: a kept answer is one the same read would give now, so
whatever another connection or another process commits (a key revoked, all sessions ended, the
allowed origins, the user's own data) is seen by the very next request, and nobody keeps being
someone a commit has ended. The set-user answer written from a kept user's JSON is byte for byte
what jsonify would write.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from flask import jsonify
from sqlalchemy import create_engine, text

from webapp.models import EndUser
from webapp.infra import read_connections
from webapp.services.end_users import snapshots

from ..servers import ROOT
from .conftest import ORIGIN, assert_error, call, fetch, identify, make_tenant, set_user, sign


def _committer(app):
    """commit(sql, **params) on a connection of another engine, as another process would commit."""
    engine = create_engine(app.config["SQLALCHEMY_DATABASE_URI"])

    def commit(sql: str, **params) -> None:
        with engine.begin() as connection:
            connection.execute(text(sql), params)

    yield commit
    engine.dispose()


@pytest.fixture
def other_connection(db_app):
    yield from _committer(db_app)


@pytest.fixture
def other_connection_pg(postgres_app):
    yield from _committer(postgres_app)


def _kept(client, token: str, **kwargs) -> dict:
    """Two identical calls: the second answered from what the first kept."""
    identify(client, {"jwt": token}, **kwargs)
    return identify(client, {"jwt": token}, **kwargs)


def test_what_another_connection_commits_is_seen_by_the_next_call(db_app, ed_key, other_connection):
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    token = sign({"id": "kept", "name": "Kept", "organizations": [{"id": "o1", "name": "O1"}]}, tenant)
    session = _kept(client, token, origin=ORIGIN)["session"]
    assert call(client, "GET", "conversations", session=session).status_code == 200
    # "End all sessions", straight into the database.
    other_connection("UPDATE end_user SET sessions_generation = sessions_generation + 1 WHERE external_id = 'kept'")
    assert_error(call(client, "GET", "conversations", session=session), 401, "session_invalid")
    # The user's data changed behind the kept answer: the same token writes its data again.
    other_connection("UPDATE end_user SET name = 'Changed', version = version + 1 WHERE external_id = 'kept'")
    assert identify(client, {"jwt": token}, origin=ORIGIN)["user"]["name"] == "Kept"
    assert [u.name for u in fetch(db_app, EndUser, EndUser.external_id == "kept")] == ["Kept"]
    # The workspace's allowed origins.
    other_connection("UPDATE tenant SET allowed_origins = :origins WHERE public_id = :public_id",
                     origins=json.dumps(["https://elsewhere.example.com"]), public_id=tenant.public_id)
    assert_error(set_user(client, {"jwt": token}, origin=ORIGIN), 403, "origin_not_allowed")


def test_a_key_revoked_by_another_process_refuses_the_very_next_call(db_app, ed_key):
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    token = sign({"id": "kept"}, tenant)
    _kept(client, token)
    revoked = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "signet", "key", "revoke", tenant.public_id,
         tenant.secret_kid], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "SIGNET_DATABASE_URL": db_app.config["SQLALCHEMY_DATABASE_URI"],
             "SIGNET_SECRET_KEY": "another-process"},
    )
    assert revoked.returncode == 0, revoked.stderr
    assert_error(set_user(client, {"jwt": token}), 401, "token_unknown_key")


def test_a_kept_answer_is_used_while_nothing_is_committed(db_app, ed_key, monkeypatch):
    """The second identical call builds nothing (on PostgreSQL the server ran no read either: the
    answer kept for this snapshot); a commit anywhere, here another user's, reads again.
    (PostgreSQL's snapshot is the whole server's: another test worker committing in its own
    database between the two calls moves it too, and the read is rightly made again. The call is
    then tried again, up to 20 times, until the server's snapshot stood still across it.)"""
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    token = sign({"id": "kept", "name": "Kept"}, tenant)
    identify(client, {"jwt": token})  # the user made: a commit
    builds = []
    monkeypatch.setattr(snapshots, "_user_info", lambda *args: builds.append(1) or _user_info(*args))
    identify(client, {"jwt": token})  # read, kept
    assert builds == [1]
    postgres = not db_app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite")
    snapshot = create_engine(db_app.config["SQLALCHEMY_DATABASE_URI"]) if postgres else None

    def server_snapshot():
        if snapshot is None:
            return None
        with snapshot.connect() as connection:  # a read: it moves no snapshot itself
            return connection.execute(text("SELECT pg_current_snapshot()::text")).scalar_one()

    try:
        for _ in range(20):
            before = server_snapshot()
            identify(client, {"jwt": token})  # kept at `before` (read again if it moved since)
            builds.clear()
            assert identify(client, {"jwt": token})["user"]["name"] == "Kept"
            if server_snapshot() == before:
                break
        assert builds == []  # kept: nothing built again
    finally:
        if snapshot is not None:
            snapshot.dispose()
    identify(client, {"id": "someone-else"})  # a commit
    assert identify(client, {"jwt": token})["user"]["name"] == "Kept"
    assert builds == [1]


_user_info = snapshots._user_info


@pytest.mark.postgres
def test_a_kept_answer_survives_its_connection_being_cut(postgres_app, ed_key, other_connection_pg):
    """The read connection's server process ended between two calls: the call reads again on a new
    connection, whose memory holds nothing, and reads there (an answer is only ever taken from
    the connection that kept it)."""
    tenant = make_tenant(postgres_app, ed_key)
    client = tenant.api_client()
    token = sign({"id": "kept", "name": "Kept"}, tenant)
    _kept(client, token)
    with postgres_app.app_context():  # this thread's read connection (the test client runs here)
        pid = read_connections._held().connection.info.backend_pid
    other_connection_pg("SELECT pg_terminate_backend(:pid)", pid=pid)
    for _ in range(2):
        assert identify(client, {"jwt": token})["user"]["name"] == "Kept"


@pytest.mark.parametrize("name", ["Kept", "Zoë \u00e9\u4e2d\U0001F600", 'quote " backslash \\ </script>'])
def test_the_answer_is_what_jsonify_writes(db_app, ed_key, name):
    """set-user's answer is written by hand around the user's kept JSON (widget_api/views.py):
    the same bytes as jsonify, first call and kept call alike, and a change shows at once."""
    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    claims = {"id": "u", "name": name, "attrs": {"b": 2.5, "a": name, "c": True, "d": None, "e": 10**20},
              "organizations": [{"id": "o1", "name": name, "attrs": {"n": 1}}]}
    for body in ({"jwt": sign(claims, tenant)}, {"jwt": sign(claims, tenant)}, {"id": None},
                 {"jwt": sign({**claims, "name": "Changed"}, tenant)}):
        response = set_user(client, body)
        assert response.status_code == 200, response.get_json()
        with db_app.test_request_context():
            assert response.data == jsonify(response.get_json()).data
    assert response.get_json()["user"]["name"] == "Changed"
