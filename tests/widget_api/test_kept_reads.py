"""Reads kept on SQLite's read connection (infra/read_connections.memoized) and the user read
ahead with the tenant (services/end_users/snapshots.tenant_and_user), issue 18.

Who may claim what is unchanged: a kept answer is one that the same read would give now (nothing
committed anywhere since), and a user read ahead is data only, used after the token that names
them passed, and only for the very lookup it was read for. So whatever another connection or
another process commits is seen by the next request, and nobody becomes someone else by
making the server read a user ahead.
"""
from __future__ import annotations

import json
import sqlite3

from webapp.models import EndUser

from .conftest import ORIGIN, assert_error, bearer, call, fetch, identify, set_user, settings, sign


def _database_file(app) -> str:
    return app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///")


def _returning(client, tenant, claims: dict) -> str:
    """A token for `claims`, used twice (the second answer comes from what the first kept)."""
    token = sign(claims, tenant)
    identify(client, {"jwt": token})
    identify(client, {"jwt": token})
    return token


def test_a_change_another_connection_commits_is_seen_at_once(app, tenant, client):
    """Straight into the database file, as another process would: the allowed origins and the
    user's sessions generation ("end all sessions")."""
    token = sign({"id": "kept"}, tenant)
    session = identify(client, {"jwt": token}, origin=ORIGIN)["session"]
    identify(client, {"jwt": token}, origin=ORIGIN)
    assert call(client, "GET", "conversations", session=session).status_code == 200
    with sqlite3.connect(_database_file(app)) as other:
        other.execute("UPDATE end_user SET sessions_generation = sessions_generation + 1 WHERE external_id = 'kept'")
    assert_error(call(client, "GET", "conversations", session=session), 401, "session_invalid")
    with sqlite3.connect(_database_file(app)) as other:
        other.execute("UPDATE tenant SET allowed_origins = ? WHERE public_id = ?",
                      (json.dumps(["https://elsewhere.example.com"]), tenant.public_id))
    assert_error(set_user(client, {"jwt": token}, origin=ORIGIN), 403, "origin_not_allowed")


def test_a_setting_changed_on_the_dashboard_applies_to_the_next_call(app, tenant, client):
    identify(client, {"id": "plain"})
    identify(client, {"id": "plain"})
    settings(app, tenant, verification_mode="required")
    assert_error(set_user(client, {"id": "plain"}), 403, "verification_required")


def test_a_token_for_one_workspace_reads_ahead_in_another_and_is_refused_there(app, tenant, other_tenant, ed_key):
    """The same external id in two workspaces: a token of the first, kept by this process, makes
    the second read its own user ahead; the second still refuses the token, and its user stays
    as it was (no session, no write)."""
    mine, theirs = tenant.api_client(), other_tenant.api_client()
    identify(theirs, {"jwt": sign({"id": "same", "name": "Theirs"}, other_tenant)})
    token = _returning(mine, tenant, {"id": "same", "name": "Mine"})
    before = fetch(app, EndUser, EndUser.tenant_id == other_tenant.id, EndUser.external_id == "same")
    response = set_user(theirs, {"jwt": token})
    assert_error(response, 401, "token_unknown_key")
    after = fetch(app, EndUser, EndUser.tenant_id == other_tenant.id, EndUser.external_id == "same")
    assert [(u.name, u.version) for u in after] == [(u.name, u.version) for u in before] == [("Theirs", 1)]


def test_a_kept_token_that_expired_is_refused_though_its_user_was_read_ahead(tenant, client, monkeypatch):
    token = _returning(client, tenant, {"id": "late", "exp": 2_000_000_000})
    import time as clock

    monkeypatch.setattr(clock, "time", lambda: 2_000_000_000 + 3600.0)
    assert_error(set_user(client, {"jwt": token}), 401, "token_expired")


def test_a_visitor_header_decides_the_lookup_not_the_read_ahead(app, tenant, client):
    """An anonymous visitor's conversation moves to the user who identifies with their visitor
    id; a forged visitor id reads no one's visitor row (a new id is issued, nothing moves)."""
    anonymous = identify(client, {"id": None})
    visitor, session = anonymous["visitorId"], anonymous["session"]
    assert call(client, "POST", "conversations", {"body": "hello"}, session=session).status_code == 201
    forged = visitor[:-2] + ("AA" if not visitor.endswith("AA") else "BB")
    answer = identify(client, {"id": "who"}, headers={"X-Signet-Visitor": forged})
    assert answer["visitorId"] not in (forged, visitor)
    still = call(client, "GET", "conversations", session=session)  # nothing moved: still the visitor's
    assert still.status_code == 200 and len(still.get_json()["conversations"]) == 1
    mine = identify(client, {"id": "who"}, headers={"X-Signet-Visitor": visitor})
    assert mine["visitorId"] == visitor
    listed = call(client, "GET", "conversations", session=mine["session"]).get_json()["conversations"]
    assert len(listed) == 1


def test_a_second_user_with_the_same_token_shape_is_never_served_the_first(tenant, client):
    """Kept answers are per lookup: two users, each returning, each gets themself."""
    a = _returning(client, tenant, {"id": "a", "name": "A"})
    b = _returning(client, tenant, {"id": "b", "name": "B"})
    assert identify(client, {"jwt": a})["user"]["name"] == "A"
    assert identify(client, {"jwt": b})["user"]["name"] == "B"
    session_a = identify(client, {"jwt": a})["session"]
    assert call(client, "GET", "conversations", headers=bearer(session_a)).status_code == 200


def test_an_id_the_field_rules_refuse_is_refused_before_any_read_ahead(db_app, ed_key):
    """The read ahead takes the raw id of unsigned data, before the field rules: an id PostgreSQL
    cannot even take as a parameter (U+0000) is still the contract's 400, on both databases."""
    from .conftest import make_tenant

    tenant = make_tenant(db_app, ed_key)
    client = tenant.api_client()
    assert_error(set_user(client, {"id": "a\x00b"}), 400, "invalid_field", "id")
    assert_error(set_user(client, {"id": "a\x00b", "name": "Someone"}), 400, "invalid_field", "id")
    assert_error(set_user(client, {"id": "x" * 5000}), 400, "invalid_field", "id")
