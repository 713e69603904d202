"""Signed user data (API.md §4) through set-user: claim forms, verification marks, both key kinds."""
from __future__ import annotations

import pytest

from webapp.models import EndUser, UsedJti

from .conftest import assert_error, call, count, fetch, identify, set_user, settings, sign


def stored(app, external_id="u-1") -> EndUser:
    [row] = fetch(app, EndUser, EndUser.external_id == external_id)
    return row


@pytest.mark.parametrize("alg", ["HS256", "EdDSA"])
@pytest.mark.parametrize("with_kid", [True, False], ids=["kid", "no-kid"])
def test_a_verified_token_marks_the_user_verified(app, client, tenant, alg, with_kid):
    token = sign({"id": "u-1", "email": "jane@example.com", "name": "Jane"}, tenant, alg, kid=with_kid)
    data = identify(client, {"jwt": token})
    assert data["user"] == {"id": "u-1", "email": "jane@example.com", "name": "Jane", "avatarUrl": None, "attrs": {},
                            "organizations": [], "verified": True, "anonymous": False}
    row = stored(app)
    kid = tenant.ed_kid if alg == "EdDSA" else tenant.secret_kid
    assert (row.verified, row.verified_via, row.verified_alg, row.verified_kid) == (True, "token", alg, kid)
    assert row.verified_at is not None and row.created_via == "widget"


def test_an_unverified_user_becomes_verified_and_stays_so(app, client, tenant):
    assert identify(client, {"id": "u-1", "name": "Jane"})["user"]["verified"] is False
    assert identify(client, {"jwt": sign({"id": "u-1"}, tenant, "EdDSA")})["user"]["verified"] is True
    assert stored(app).name == "Jane"  # a field left out of the token keeps its value
    data = identify(client, {"jwt": sign({"id": "u-1", "name": "Jane Doe"}, tenant)})
    assert data["user"]["verified"] is True and data["user"]["name"] == "Jane Doe"
    row = stored(app)
    assert (row.verified_alg, row.verified_kid) == ("HS256", tenant.secret_kid)


def test_nested_user_extra_keys_go_into_attrs(app, client, tenant):
    claims = {"user": {"id": 42, "email": "jane@example.com", "plan": "pro", "seats": 3,
                       "attrs": {"seats": 5, "beta": True}, "organizations": [{"id": 7, "name": "Acme"}]},
              "id": "ignored-beside-user", "name": "Ignored"}
    user = identify(client, {"jwt": sign(claims, tenant)})["user"]
    assert user["id"] == "42" and user["name"] is None
    assert user["attrs"] == {"plan": "pro", "seats": 5, "beta": True}
    assert user["organizations"] == [{"id": "7", "name": "Acme", "attrs": {}}]
    assert stored(app, "42").attrs == {"plan": "pro", "seats": 5, "beta": True}


@pytest.mark.parametrize("claims, external_id", [
    ({"sub": "u-9", "name": "Sub"}, "u-9"),
    ({"sub": 9, "id": "9"}, "9"),
    ({"sub": "u-9", "user": {"name": "Nested"}}, "u-9"),
    ({"sub": "u-9", "user": {"id": "u-9"}}, "u-9"),
], ids=["sub-only", "sub-int-equals-id", "sub-for-nested", "sub-equals-nested-id"])
def test_sub_stands_for_id(app, client, tenant, claims, external_id):
    assert identify(client, {"jwt": sign(claims, tenant)})["user"]["id"] == external_id
    assert stored(app, external_id).verified is True


def test_sub_differing_from_the_nested_id_is_malformed(app, client, tenant):
    assert_error(set_user(client, {"jwt": sign({"sub": "u-1", "user": {"id": "u-2"}}, tenant)}), 401, "token_malformed")
    assert count(app, EndUser) == 0


def test_whoprompt_style_payload(app, client, tenant):
    identify(client, {"jwt": sign({"id": "u-1", "organizations": [{"id": "org-456", "name": "Acme"}]}, tenant,
                                  "EdDSA")})
    settings(app, tenant, issuer="https://app.whoprompt.example")
    claims = {"iss": "https://app.whoprompt.example", "sub": "u-1", "aud": f"signet:{tenant.public_id}", "tid": tenant.public_id,
              "ctx": {"role": "admin", "orgId": "org-456"}}
    data = identify(client, {"jwt": sign(claims, tenant, "EdDSA")})
    assert data["user"]["id"] == "u-1" and data["user"]["verified"] is True
    assert data["user"]["organizations"] == [{"id": "org-456", "name": "Acme", "attrs": {}}]  # omitted: kept
    assert stored(app).attrs == {}  # iss, aud, tid and ctx are claims, not user data
    dashboard = call(client, "GET", "dashboard", session=data["session"]).get_json()
    assert dashboard["scope"] == "organization" and dashboard["organization"] == {"id": "org-456", "name": "Acme"}


@pytest.mark.parametrize("ctx", ["admin", ["admin"], 1])
def test_ctx_must_be_an_object(app, client, tenant, ctx):
    assert_error(set_user(client, {"jwt": sign({"id": "u-1", "ctx": ctx}, tenant)}), 400, "invalid_field", "ctx")
    assert count(app, EndUser) == 0


def test_unsigned_data_cannot_carry_ctx(client):
    assert_error(set_user(client, {"id": "u-1", "ctx": {"role": "admin"}}), 400, "unknown_field", "ctx")


def test_a_jti_token_is_one_time_per_tenant(app, client, tenant, other_tenant):
    identify(client, {"jwt": sign({"id": "u-1", "jti": "j-1"}, tenant)})
    identify(client, {"jwt": sign({"id": "u-1", "jti": "j-1"}, other_tenant)}, tenant=other_tenant)
    assert count(app, UsedJti) == 2
    identify(client, {"jwt": sign({"id": "u-1", "jti": "j-2"}, tenant)})
    assert_error(set_user(client, {"jwt": sign({"id": "u-1", "jti": "j-1"}, tenant, "EdDSA")}), 401, "token_replayed")


def test_login_link_codes_through_set_user(app, client, tenant):
    settings(app, tenant, login_links_enabled=True)
    data = identify(client, {"externalAuthCode": sign({"user": {"id": "u-1", "name": "Jane", "team": "red"}}, tenant)})
    assert data["user"]["verified"] is True and data["user"]["attrs"] == {"team": "red"}
    row = stored(app)
    assert (row.verified_via, row.created_via) == ("login_link", "login_link")
    identify(client, {"id": "u-2", "email": "bob@example.com", "name": "Bob"})
    # Bob's email is only self-asserted (unsigned data): it signs nobody in (API.md §9).
    assert_error(set_user(client, {"externalAuthCode": sign({"email": "bob@example.com"}, tenant)}), 401, "unknown_user")
    login_only = identify(client, {"externalAuthCode": sign({"id": "u-2", "name": "Mallory"}, tenant)})
    assert login_only["user"]["id"] == "u-2" and login_only["user"]["name"] == "Bob"
    assert login_only["user"]["verified"] is False and stored(app, "u-2").name == "Bob"
