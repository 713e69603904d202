"""API.md §3: where two errors meet the earlier check answers, and a refused request changes nothing.

Order: unknown_tenant, origin_not_allowed, rate_limited, payload_too_large, unsupported_media_type,
invalid_json, login_links_disabled, the session, the token, field rules, verification_required,
seat_limit_reached, token_replayed. (The rate limit's place is tested in test_cors_and_limits.py.)
"""
from __future__ import annotations

import time

import pytest

from webapp.models import EndUser, Rejection, UsedJti
from webapp.services.workspace.tenants import CLEAR

from .conftest import ORIGIN, assert_error, call, count, identify, set_user, settings, sign, snapshot

BIG = "x" * (65 * 1024)


def post(client, data, content_type="application/json", origin=None, path="set-user", **kwargs):
    headers = {"Origin": origin} if origin else {}
    return call(client, "POST", path, data=data, content_type=content_type, headers=headers, **kwargs)


def test_unknown_tenant_before_origin(client, tenant):
    settings(client.application, tenant, allowed_origins=[ORIGIN])
    response = client.post("/api/v1/widget/nope/set-user", data=BIG, content_type="text/plain",
                           headers={"Origin": "null"})
    assert_error(response, 404, "unknown_tenant")


@pytest.mark.parametrize("data, content_type, origin, status, code", [
    (BIG, "text/plain", "https://evil.example", 403, "origin_not_allowed"),
    (BIG, "text/plain", ORIGIN, 413, "payload_too_large"),
    ("[not json", "text/plain", ORIGIN, 415, "unsupported_media_type"),
    ("[not json", "application/json", ORIGIN, 400, "invalid_json"),
], ids=["origin>size", "size>media-type", "media-type>json", "json"])
def test_transport_checks(app, client, tenant, data, content_type, origin, status, code):
    settings(app, tenant, allowed_origins=[ORIGIN])
    assert_error(post(client, data, content_type, origin), status, code)
    assert_error(post(client, data, content_type, origin, path="conversations"), status, code)


def test_invalid_json_and_login_links_before_session_and_token(app, client):
    assert_error(post(client, "[]", path="conversations"), 400, "invalid_json")  # no session either
    assert_error(call(client, "POST", "conversations", {"body": ""}), 401, "session_invalid")  # body invalid too
    body = {"externalAuthCode": "not-a-token", "name": "stray"}
    assert_error(set_user(client, body), 403, "login_links_disabled")


@pytest.mark.parametrize("claims", [
    {"id": "u-1", "email": "not-an-email", "exp": int(time.time()) - 600},
    {"id": "u" * 300, "organizations": [{"id": 1}], "tid": "someone-else"},
], ids=["expired", "wrong-tenant"])
def test_the_token_before_its_fields_and_stray_keys(app, client, tenant, claims):
    code = "token_expired" if "tid" not in claims else "token_wrong_tenant"
    assert_error(set_user(client, {"jwt": sign(claims, tenant)}), 401, code)
    assert_error(set_user(client, {"jwt": sign(claims, tenant), "avatar_url": "x"}), 401, code)
    assert count(app, EndUser) == 0


def test_fields_before_verification_before_seats(app, client, tenant):
    identify(client, {"jwt": sign({"id": "verified"}, tenant)})
    assert_error(set_user(client, {"id": "verified", "email": "bad"}), 400, "invalid_field", "email")
    settings(app, tenant, verification_mode="required", seat_limit=1)
    assert_error(set_user(client, {"id": "new", "email": "bad"}), 400, "invalid_field", "email")
    assert_error(set_user(client, {"id": "new"}), 403, "verification_required")
    assert_error(set_user(client, {"jwt": sign({"id": "new"}, tenant)}), 403, "seat_limit_reached")
    assert count(app, EndUser) == 1


@pytest.mark.parametrize("broken, field", [
    ({"email": "not-an-email"}, "email"),
    ({"organizations": [{"id": i, "name": f"Org {i}"} for i in range(3)] + [{"id": 3, "name": ""}]},
     "organizations[3].name"),
    ({"ctx": "admin"}, "ctx"),
], ids=["email", "org-name", "ctx"])
def test_a_token_refused_by_field_rules_is_not_used_up(app, client, tenant, broken, field):
    assert_error(set_user(client, {"jwt": sign({"id": "u-1", "jti": "once", **broken}, tenant)}), 400,
                 "invalid_field", field)
    assert_error(set_user(client, {"jwt": sign({"id": "u-1", "jti": "once"}, tenant), "id": "x"}), 400,
                 "unknown_field", "id")
    assert count(app, UsedJti) == 0
    token = sign({"id": "u-1", "jti": "once"}, tenant)
    identify(client, {"jwt": token})
    assert_error(set_user(client, {"jwt": token}), 401, "token_replayed")
    assert count(app, UsedJti) == 1


def test_seat_limit_before_replay(app, client, tenant):
    settings(app, tenant, seat_limit=1)
    identify(client, {"jwt": sign({"id": "first"}, tenant)})  # a verified user: takes the seat
    token = sign({"id": "second", "jti": "seat-jti"}, tenant, "EdDSA")
    assert_error(set_user(client, {"jwt": token}), 403, "seat_limit_reached")
    assert count(app, UsedJti) == 0 and count(app, EndUser) == 1
    settings(app, tenant, seat_limit=2)
    assert identify(client, {"jwt": token})["user"]["id"] == "second"
    assert_error(set_user(client, {"jwt": token}), 401, "token_replayed")


# --- a refused request changes nothing --------------------------------------------------------

@pytest.fixture
def world(app, client, tenant):
    """Stored state worth protecting: a verified and an unverified user with organizations (acme
    signed, uma-co not) and conversations, a used jti, and an anonymous visitor with a conversation
    of their own. The seat and the unsigned users' limit are both full."""
    acme = [{"id": "acme", "name": "Acme", "attrs": {"plan": "pro"}}]
    verified = identify(client, {"jwt": sign({"id": "v", "name": "Vera", "organizations": acme, "jti": "used"},
                                             tenant)})
    plain = identify(client, {"id": "u", "name": "Uma", "attrs": {"a": 1}, "organizations": UMA_CO})
    visitor = identify(client, {"id": None})
    for data in (verified, plain, visitor):
        assert call(client, "POST", "conversations", {"body": "hi"}, session=data["session"]).status_code == 201
    settings(app, tenant, seat_limit=1, unsigned_user_limit=1)
    return {"visitor": {"X-Signet-Visitor": visitor["visitorId"]}, "uma": plain["session"]}


UMA_CO = [{"id": "uma-co", "name": "Uma Co"}]
CHANGES = {"name": "Changed", "attrs": {"b": 2}, "organizations": [{"id": "uma-co", "name": "Renamed"},
                                                                    {"id": "fresh", "name": "Fresh"}]}
SIGNED_ORG = [{"id": "acme", "name": "Acme", "attrs": {"plan": "pro"}}]

REFUSALS = [
    ("field-error", lambda t: {"id": "u", **CHANGES, "email": "bad"}, 400, "invalid_field", "email"),
    ("unknown-field", lambda t: {"id": "u", **CHANGES, "avatar_url": "https://x.example/a.png"}, 400,
     "unknown_field", "avatar_url"),
    ("verification-required", lambda t: {"id": "v", **CHANGES}, 403, "verification_required", None),
    ("joins-signed-org", lambda t: {"id": "u", **CHANGES, "organizations": UMA_CO + SIGNED_ORG}, 403,
     "verification_required", "organizations[1].id"),
    ("new-user-renames-signed-org", lambda t: {"id": "new", **CHANGES, "organizations": [
        {"id": "acme", "name": "Renamed"}]}, 403, "verification_required", "organizations[0].id"),
    ("seat-unsigned", lambda t: {"id": "new", **CHANGES}, 403, "seat_limit_reached", None),
    ("seat-signed-jti", lambda t: {"jwt": sign({"id": "new", "jti": "fresh-jti", **CHANGES}, t)}, 403,
     "seat_limit_reached", None),
    ("replay-existing", lambda t: {"jwt": sign({"id": "u", "jti": "used", **CHANGES}, t)}, 401, "token_replayed", None),
    ("replay-new-user", lambda t: {"jwt": sign({"id": "v2", "jti": "used"}, t)}, 401, "token_replayed", None),
    ("token-expired", lambda t: {"jwt": sign({"id": "u", **CHANGES, "exp": int(time.time()) - 600}, t)}, 401,
     "token_expired", None),
    ("token-bad-signature", lambda t: {"jwt": sign({"id": "u", **CHANGES}, t)[:-4] + "AAAA"}, 401,
     "token_bad_signature", None),
    ("login-links-disabled", lambda t: {"externalAuthCode": sign({"user": {"id": "u", **CHANGES}}, t)}, 403,
     "login_links_disabled", None),
]


@pytest.mark.parametrize("make, status, code, field", [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_a_refused_set_user_changes_nothing(app, client, tenant, world, make, status, code, field):
    if code == "token_replayed":
        settings(app, tenant, seat_limit=CLEAR)  # let the replay be the only reason left
    before = snapshot(app)
    rejections = count(app, Rejection)
    assert_error(set_user(client, make(tenant), headers=world["visitor"]), status, code, field)
    assert snapshot(app) == before
    # Token refusals and unsigned data refused by the workspace's mode go to the recent-rejections
    # log (the token debugger's list); field rules and seats are the caller's own mistakes.
    logged = code.startswith("token_") or code == "verification_required"
    assert count(app, Rejection) == rejections + logged


def test_refused_conversation_calls_change_nothing(app, client, tenant, world):
    before = snapshot(app)
    assert_error(call(client, "POST", "conversations", {"body": ""}, session=world["uma"]), 400, "invalid_field",
                 "body")
    assert_error(call(client, "POST", "conversations", {"body": "x"}, session="forged"), 401, "session_invalid")
    assert_error(call(client, "POST", "conversations/conv_nope/messages", {"body": "x"}, session=world["uma"]),
                 404, "not_found")
    assert snapshot(app) == before
