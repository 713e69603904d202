"""Every error code of API.md §3 reachable over HTTP, with its exact status and body.

CORS, body limits, seats and rate limits are in test_cors_and_limits.py; not_found in
test_conversations.py.
"""
from __future__ import annotations

import secrets
import time

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from webapp.models import EndUser, Rejection, UsedJti
from webapp.services.end_users import sessions

from .conftest import assert_error, call, count, fetch, identify, set_user, settings, sign


def post_raw(client, data, content_type="application/json"):
    return client.post(client.tenant.url("set-user"), data=data, content_type=content_type)


@pytest.mark.parametrize("data", ["[1, 2]", '"jane"', "42", "null", "true", '{"id": "u-1"', "{'id': 'u'}", "",
                                  '{"id": NaN}', b"\xff\xfe{}", '{"id": "\\ud800"}',
                                  '{"id": "u-1", "name": "Ja\\udc00ne"}'],
                         ids=["array", "string", "number", "null", "bool", "truncated", "single-quotes", "empty",
                              "nan", "not-utf8", "lone-surrogate-id", "lone-surrogate-name"])
def test_invalid_json(app, client, data):
    assert_error(post_raw(client, data), 400, "invalid_json")
    assert count(app, EndUser) == 0


def test_invalid_json_on_a_conversations_post(app, client):
    assert_error(call(client, "POST", "conversations", data="[]", content_type="application/json"), 400, "invalid_json")
    session = identify(client, {"id": "u-1"})["session"]
    response = call(client, "POST", "conversations", data='{"body": "\\ud800"}', content_type="application/json",
                    session=session)
    assert_error(response, 400, "invalid_json")  # a lone surrogate is not Unicode text (was a 500)
    name = identify(client, {"id": "u-1", "name": "\U0001F600 ok"})["user"]["name"]
    assert name == "\U0001F600 ok"  # a real pair, escaped or not, is fine
    assert identify(client, {"id": "u-1", "name": None})["user"]["name"] is None
    sent = client.post(client.tenant.url("set-user"), data='{"id": "u-1", "name": "\\ud83d\\ude00"}',
                       content_type="application/json")
    assert sent.get_json()["user"]["name"] == "\U0001F600"


def test_unknown_field_suggests_the_right_name(client):
    error = assert_error(set_user(client, {"id": "u-1", "avatar_url": "https://x.example/a.png"}),
                         400, "unknown_field", "avatar_url")
    assert '"avatarUrl"' in error["message"]


@pytest.mark.parametrize("token_key", ["jwt", "externalAuthCode"])
def test_a_key_beside_a_token_is_unknown_field(app, client, tenant, token_key):
    settings(app, tenant, login_links_enabled=True)
    body = {token_key: sign({"user": {"id": "u-1"}}, tenant), "name": "Jane"}
    error = assert_error(set_user(client, body), 400, "unknown_field", "name")
    assert f'"{token_key}" must be sent alone' in error["message"]
    assert count(app, EndUser) == 0 and count(app, UsedJti) == 0


def now() -> int:
    return int(time.time())


OTHER_SECRET = secrets.token_urlsafe(32)  # another server's secret, made now


def sign_es256():
    """ES256 is allowed, but this tenant has no P-256 key."""
    return jwt.encode({"id": "u-1", "exp": now() + 300}, ec.generate_private_key(ec.SECP256R1()), algorithm="ES256")


# (case id, tenant settings, token maker (tenant → token or any JSON value), expected code)
TOKEN_CASES = [
    ("not-a-string", {}, lambda t: 42, "token_malformed"),
    ("not-a-jws", {}, lambda t: "not-a-jwt", "token_malformed"),
    ("padded", {}, lambda t: sign({"id": "u-1"}, t) + "==", "token_malformed"),
    ("over-8KiB", {}, lambda t: sign({"id": "u-1", "pad": "x" * 8200}, t), "token_malformed"),
    ("crit-header", {}, lambda t: sign({"id": "u-1"}, t, headers={"crit": ["exp"]}), "token_malformed"),
    ("exp-as-string", {}, lambda t: sign({"id": "u-1", "exp": str(now() + 300)}, t), "token_malformed"),
    ("empty-jti", {}, lambda t: sign({"id": "u-1", "jti": ""}, t), "token_malformed"),
    ("sub-not-id", {}, lambda t: sign({"id": "u-1", "sub": "u-2"}, t), "token_malformed"),
    ("alg-none-unsigned", {}, lambda t: jwt.encode({"id": "u-1", "exp": now() + 300}, None, algorithm="none"),
     "token_malformed"),  # an empty signature segment is not the compact shape
    ("alg-none", {}, lambda t: jwt.encode({"id": "u-1", "exp": now() + 300}, None, algorithm="none") + "c2ln",
     "token_algorithm_not_allowed"),
    ("alg-hs384", {}, lambda t: jwt.encode({"id": "u-1", "exp": now() + 300}, t.secret * 2, algorithm="HS384"),
     "token_algorithm_not_allowed"),
    ("hs256-with-the-eddsa-kid", {}, lambda t: sign({"id": "u-1"}, t, headers={"kid": t.ed_kid}),
     "token_algorithm_not_allowed"),
    ("unknown-kid", {}, lambda t: sign({"id": "u-1"}, t, headers={"kid": "sec_nope"}), "token_unknown_key"),
    ("no-key-of-that-alg", {}, lambda t: sign_es256(), "token_unknown_key"),
    ("other-secret", {}, lambda t: jwt.encode({"id": "u-1", "exp": now() + 300}, OTHER_SECRET, algorithm="HS256"),
     "token_bad_signature"),
    ("other-secret-same-kid", {}, lambda t: jwt.encode({"id": "u-1", "exp": now() + 300}, OTHER_SECRET,
                                                       algorithm="HS256", headers={"kid": t.secret_kid}),
     "token_bad_signature"),
    ("missing-exp", {}, lambda t: sign({"id": "u-1"}, t, exp=False), "token_missing_exp"),
    ("expired", {}, lambda t: sign({"id": "u-1", "exp": now() - 120}, t), "token_expired"),
    ("nbf-future", {}, lambda t: sign({"id": "u-1", "nbf": now() + 600}, t), "token_not_yet_valid"),
    ("iat-future", {}, lambda t: sign({"id": "u-1", "iat": now() + 600}, t), "token_not_yet_valid"),
    ("aud-other", {}, lambda t: sign({"id": "u-1", "aud": "someone-else"}, t), "token_bad_audience"),
    ("aud-not-the-tenants", {"audience": "acme-app"}, lambda t: sign({"id": "u-1", "aud": "signet-widget"}, t),
     "token_bad_audience"),
    ("aud-required", {"require_audience": True}, lambda t: sign({"id": "u-1"}, t), "token_bad_audience"),
    ("iss-missing", {"issuer": "https://auth.acme.example"}, lambda t: sign({"id": "u-1"}, t), "token_bad_issuer"),
    ("iss-other", {"issuer": "https://auth.acme.example"},
     lambda t: sign({"id": "u-1", "iss": "https://auth.evil.example"}, t), "token_bad_issuer"),
    ("tid-other", {}, lambda t: sign({"id": "u-1", "tid": "globex-abcdef"}, t), "token_wrong_tenant"),
]


@pytest.mark.parametrize("changes, make, code", [c[1:] for c in TOKEN_CASES], ids=[c[0] for c in TOKEN_CASES])
def test_token_errors(app, client, tenant, changes, make, code):
    if changes:
        settings(app, tenant, **changes)
    assert_error(set_user(client, {"jwt": make(tenant)}), 401, code)
    assert count(app, EndUser) == 0 and count(app, UsedJti) == 0
    assert count(app, Rejection, Rejection.code == code) == 1


@pytest.mark.parametrize("changes, claims", [
    ({"audience": "acme-app", "require_audience": True}, {"aud": ["other", "acme-app"]}),
    ({"issuer": "https://auth.acme.example"}, {"iss": "https://auth.acme.example"}),
    ({}, {"tid": None}),
], ids=["aud-in-a-list", "pinned-iss", "own-tid"])
def test_the_matching_audience_issuer_and_tenant_pass(app, client, tenant, changes, claims):
    if changes:
        settings(app, tenant, **changes)
    claims = {k: (tenant.public_id if k == "tid" else v) for k, v in claims.items()}
    identify(client, {"jwt": sign({"id": "u-1", **claims}, tenant)})


def test_token_replayed(app, client, tenant):
    token = sign({"id": "u-1", "jti": "order-42"}, tenant)
    identify(client, {"jwt": token})
    assert_error(set_user(client, {"jwt": token}), 401, "token_replayed")
    again = sign({"jti": "order-42", "id": "u-1", "name": "Other bytes"}, tenant, "EdDSA")
    assert_error(set_user(client, {"jwt": again}), 401, "token_replayed")
    assert count(app, UsedJti) == 1 and fetch_name(app) is None


def fetch_name(app):
    [user] = fetch(app, EndUser)
    return user.name


def test_unknown_user_for_a_login_only_code(app, client, tenant):
    settings(app, tenant, login_links_enabled=True)
    identify(client, {"id": "known", "email": "known@example.com"})
    for claims in ({"id": "nobody"}, {"sub": "nobody"}, {"email": "nobody@example.com"}):
        assert_error(set_user(client, {"externalAuthCode": sign(claims, tenant)}), 401, "unknown_user")
    assert count(app, EndUser) == 1
    # An email only unsigned data claimed is not proven: it names nobody; the id does.
    assert_error(set_user(client, {"externalAuthCode": sign({"email": "known@example.com"}, tenant)}), 401,
                 "unknown_user")
    known = identify(client, {"externalAuthCode": sign({"id": "known"}, tenant)})
    assert known["user"]["id"] == "known" and known["user"]["verified"] is False


def test_login_links_disabled(app, client, tenant):
    for code in (sign({"user": {"id": "u-1"}}, tenant), "garbage"):
        assert_error(set_user(client, {"externalAuthCode": code}), 403, "login_links_disabled")
    assert count(app, EndUser) == 0


def expired_session(app, tenant):
    with app.app_context():
        return sessions.issue(tenant, visitor_id=sessions.new_visitor_id(), now=time.time() - 86400 - 5)[0]


def logged_out_session(app, client, tenant, other):
    session = identify(client, {"id": "u-1"})["session"]
    assert call(client, "POST", "logout", {}, session=session).status_code == 204
    return session


def other_tenants_session(app, client, tenant, other):
    return identify(client, {"id": "u-1"}, tenant=other)["session"]


SESSION_CASES = {
    "missing": lambda app, client, tenant, other: None,
    "garbage": lambda app, client, tenant, other: "garbage",
    "not-bearer": lambda app, client, tenant, other: identify(client, {"id": None})["session"],
    "expired": lambda app, client, tenant, other: expired_session(app, tenant),
    "revoked": logged_out_session,
    "other-tenant": other_tenants_session,
}


@pytest.mark.parametrize("make", SESSION_CASES.values(), ids=SESSION_CASES.keys())
@pytest.mark.parametrize("method, path, body", [("GET", "conversations", None), ("POST", "logout", {})])
def test_session_invalid(app, client, tenant, other_tenant, make, method, path, body):
    session = make(app, client, tenant, other_tenant)
    headers = {"Authorization": f"Token {session}"} if make is SESSION_CASES["not-bearer"] else None
    response = call(client, method, path, body, session=None if headers else session, headers=headers)
    assert_error(response, 401, "session_invalid")


def test_a_fresh_session_passes_where_the_invalid_ones_fail(client):
    session = identify(client, {"id": None})["session"]
    assert call(client, "GET", "conversations", session=session).get_json() == {"conversations": []}
    assert call(client, "GET", "conversations", headers={"Authorization": f"bearer {session}"}).status_code == 200


def test_verification_required_in_required_mode(app, client, tenant):
    settings(app, tenant, verification_mode="required")
    assert_error(set_user(client, {"id": "u-1"}), 403, "verification_required")
    assert_error(set_user(client, {"id": 7, "name": "Jane"}), 403, "verification_required")
    assert count(app, EndUser) == 0
    anonymous = identify(client, {"id": None})
    assert anonymous["user"]["anonymous"] is True and anonymous["session"]
    identify(client, {"jwt": sign({"id": "u-1"}, tenant)})
    assert count(app, Rejection, Rejection.code == "verification_required", Rejection.outcome == "refused") == 2


def test_report_mode_accepts_unsigned_data_and_logs_what_required_would_refuse(app, client, tenant):
    settings(app, tenant, verification_mode="report")
    identify(client, {"id": "u-1", "name": "Jane"})
    identify(client, {"id": "u-1", "name": "Jane"})  # unchanged: still logged
    identify(client, {"id": "u-1", "name": "Jane Doe"})  # changed
    identify(client, {"id": "u-1", "organizations": [{"id": "o", "name": "O"}]})  # memberships changed
    identify(client, {"id": None})
    identify(client, {"jwt": sign({"id": "u-2"}, tenant)})
    assert count(app, Rejection, Rejection.outcome == "would_refuse", Rejection.code == "verification_required") == 4
    assert count(app, Rejection, Rejection.outcome == "refused") == 0


def test_verification_required_for_a_verified_user_in_optional_mode(app, client, tenant):
    identify(client, {"jwt": sign({"id": "u-1", "name": "Jane"}, tenant)})
    for body in ({"id": "u-1"}, {"id": "u-1", "name": "Jane"}, {"id": "u-1", "name": "Mallory"}):
        assert_error(set_user(client, body), 403, "verification_required")
    assert fetch_name(app) == "Jane"
    identify(client, {"id": "someone-else"})  # unverified users still work unsigned


@pytest.mark.parametrize("path", ["set-user", "conversations", "dashboard"])
def test_unknown_tenant(client, path):
    response = client.open(f"/api/v1/widget/no-such-tenant/{path}", method="POST" if path == "set-user" else "GET",
                           json={"id": "u-1"} if path == "set-user" else None)
    assert_error(response, 404, "unknown_tenant")
    assert "Access-Control-Allow-Origin" not in response.headers


def test_duplicate_keys_in_a_body_are_invalid_json(client):
    response = client.post(
        f"/api/v1/widget/{client.tenant.public_id}/set-user",
        data='{"id": "a", "id": "b"}', content_type="application/json")
    assert response.status_code == 400 and response.json["error"]["code"] == "invalid_json"
