"""Login links on the hosted page: payload forms, the clean 303, the session cookie, sign-out, seats."""
from __future__ import annotations

import base64
import html
import json
import re
import time

import pytest

from .conftest import (
    add_signed_user, add_user, configure, set_cookie_header, sign_out, stored_counts, user_count, user_row,
)

SESSION = re.compile(r'data-session="([^"]+)"')
USER = re.compile(r"data-user='([^']+)'")


def page_user(response) -> dict:
    return json.loads(html.unescape(USER.search(response.get_data(as_text=True)).group(1)))


def test_user_object_creates_a_verified_user_and_answers_303_without_the_code(client, app, tenant):
    response = client.get(tenant.link({"user": {"id": "u-1", "email": "jane@example.com", "name": "Jane",
                                                "plan": "pro"}}))
    assert response.status_code == 303
    assert response.headers["Location"] == tenant.page
    user = user_row(app, tenant, "u-1")
    assert (user.created_via, user.verified, user.verified_via) == ("login_link", True, "login_link")
    assert (user.email, user.name, user.attrs) == ("jane@example.com", "Jane", {"plan": "pro"})

    page = client.get(tenant.page)
    assert page.status_code == 200
    body = page.get_data(as_text=True)
    assert "Signed in as <strong>Jane</strong>" in body
    assert "<signet-messenger inline>" in body
    assert SESSION.search(body).group(1) == client.get_cookie(tenant.cookie, path=tenant.page).value
    assert page_user(page)["id"] == "u-1" and page_user(page)["verified"] is True


@pytest.fixture
def two_users(app, tenant):
    """Alice, known from unsigned data only, and Bob, known from signed data (his email is proven)."""
    add_user(app, tenant, "u-a", email="alice@example.com", name="Alice")
    add_signed_user(app, tenant, "u-b", email="bob@example.com", name="Bob")
    return tenant


@pytest.mark.parametrize("claims, who", [
    ({"id": "u-a"}, "Alice"),
    ({"sub": "u-a"}, "Alice"),
    ({"email": "BOB@example.com"}, "Bob"),
    ({"id": "u-a", "email": "bob@example.com"}, "Alice"),  # id wins
    ({"id": "u-a", "name": "Mallory", "attrs": {"x": 1}}, "Alice"),  # login-only changes nothing
])
def test_login_only_codes_sign_in_an_existing_user_and_change_nothing(client, app, two_users, claims, who):
    before = stored_counts(app)["end_user"]
    assert client.get(two_users.link(claims)).status_code == 303
    assert f"Signed in as <strong>{who}</strong>" in client.get(two_users.page).get_data(as_text=True)
    alice = user_row(app, two_users, "u-a")
    assert (alice.name, alice.attrs, alice.verified) == ("Alice", {}, False)
    assert stored_counts(app)["end_user"] == before


@pytest.mark.parametrize("claims", [{"id": "nobody"}, {"sub": "nobody"}, {"email": "nobody@example.com"}, {}])
def test_login_only_codes_naming_nobody_are_unknown_user(client, app, two_users, claims):
    before = stored_counts(app)
    response = client.get(two_users.link(claims))
    assert response.status_code == 401
    assert "know this account" in response.get_data(as_text=True)
    assert "unknown_user" in response.get_data(as_text=True)
    assert stored_counts(app) == before


def _other_secret_code(tenant):
    return tenant.sign({"user": {"id": "x"}}, secret="another-secret-of-at-least-32-bytes!!")


@pytest.mark.parametrize("make, status, says", [
    (lambda t: t.sign({"user": {"id": "x"}}, ttl=-3600), 401, "This link has expired"),
    (_other_secret_code, 401, "could not be verified"),
    (lambda t: t.sign({"user": {"id": "x"}}, kid="sec_unknown"), 401, "could not be verified"),
    (lambda t: "not.a-jwt", 401, "damaged"),
    (lambda t: "", 401, "damaged"),
    (lambda t: t.sign({"id": "nobody"}), 401, "know this account"),
    (lambda t: t.sign({"user": {"id": "x", "email": "not an email"}}), 400, "invalid details"),
    (lambda t: t.sign({"user": {"id": "x"}, "aud": "someone-else"}), 401, "not for this workspace"),
])
def test_refused_codes_show_a_readable_page_and_create_nothing(client, app, tenant, make, status, says):
    before = stored_counts(app)
    from urllib.parse import quote
    response = client.get(f"{tenant.page}?externalAuthCode={quote(make(tenant))}")
    assert response.status_code == status
    assert says in response.get_data(as_text=True)
    assert set_cookie_header(response, tenant.cookie) is None
    assert stored_counts(app) == before


def test_an_expired_link_shows_the_server_time(client, tenant):
    body = client.get(tenant.link({"user": {"id": "x"}}, ttl=-3600)).get_data(as_text=True)
    assert "expired" in body and "Server time:" in body and time.strftime("%Y-%m-%d", time.gmtime()) in body


def test_login_links_turned_off_answer_403_and_the_page_still_works(client, app, tenant):
    configure(app, tenant, login_links_enabled=False)
    before = stored_counts(app)
    response = client.get(tenant.link({"user": {"id": "x"}}))
    assert response.status_code == 403
    assert "Login links are turned off" in response.get_data(as_text=True)
    assert stored_counts(app) == before
    assert client.get(tenant.page).status_code == 200


def test_a_one_time_code_is_refused_the_second_time(client, app, tenant):
    code = tenant.sign({"user": {"id": "u-1"}, "jti": "once"})
    assert client.get(f"{tenant.page}?externalAuthCode={code}").status_code == 303
    second = client.get(f"{tenant.page}?externalAuthCode={code}")
    assert second.status_code == 401
    assert "This link was already used" in second.get_data(as_text=True)


def test_every_load_with_a_code_is_verified_even_when_signed_in(client, tenant):
    assert client.get(tenant.link({"user": {"id": "u-1"}})).status_code == 303
    assert client.get(tenant.link({"user": {"id": "u-1"}}, ttl=-3600)).status_code == 401


def test_a_head_request_never_uses_a_one_time_code(client, tenant):
    code = tenant.sign({"user": {"id": "u-1"}, "jti": "head-first"})
    assert client.head(f"{tenant.page}?externalAuthCode={code}").status_code == 200
    assert client.get(f"{tenant.page}?externalAuthCode={code}").status_code == 303


@pytest.mark.parametrize("settings, claims, ok", [
    ({"login_links_require_jti": True}, {}, False),
    ({"login_links_require_jti": True}, {"jti": "j1"}, False),  # iat missing
    ({"login_links_require_jti": True}, {"jti": "j2", "iat": "now"}, True),
    ({"login_links_max_age": 300}, {}, False),  # no iat to measure
    ({"login_links_max_age": 300}, {"iat": "now", "ttl": 600}, False),
    ({"login_links_max_age": 300}, {"iat": "now", "ttl": 300}, True),
])
def test_the_workspace_policy_on_jti_and_maximum_age(client, app, tenant, settings, claims, ok):
    configure(app, tenant, **settings)
    claims = dict(claims)
    ttl = claims.pop("ttl", 120)
    if claims.get("iat") == "now":
        claims["iat"] = int(time.time())
    before = stored_counts(app)
    response = client.get(tenant.link({"user": {"id": "u-1"}, **claims}, ttl=ttl))
    assert response.status_code == (303 if ok else 401)
    if not ok:
        assert "damaged or not accepted" in response.get_data(as_text=True)
        assert stored_counts(app) == before


def test_the_cookie_flags_over_http(client, tenant):
    header = set_cookie_header(client.get(tenant.link({"user": {"id": "u-1"}})), tenant.cookie)
    assert "HttpOnly" in header and "SameSite=Lax" in header and f"Path={tenant.page};" in header + ";"
    assert "Secure" not in header
    max_age = int(re.search(r"Max-Age=(\d+)", header).group(1))
    assert 86_000 < max_age <= 86_400


def test_the_cookie_is_secure_over_https(app, tenant):
    app.config["TRUSTED_HOSTS"] = ["signet.example.com"]  # a deployment's own host name (SIGNET_TRUSTED_HOSTS)
    client = app.test_client()
    response = client.get(tenant.link({"user": {"id": "u-1"}}), base_url="https://signet.example.com")
    assert response.status_code == 303
    header = set_cookie_header(response, tenant.cookie)
    assert "Secure" in header and "HttpOnly" in header and "SameSite=Lax" in header
    # Forms still work over https although the page sends no Referer (no-referrer).
    page = client.get(tenant.page, base_url="https://signet.example.com")
    assert "Signed in as" in page.get_data(as_text=True)
    assert sign_out(client, tenant, base_url="https://signet.example.com").status_code == 303


def test_a_reload_keeps_the_session_and_another_tenant_does_not_see_it(client, app, tenant):
    from .conftest import make_tenant

    other = make_tenant(app, "Globex")
    client.get(tenant.link({"user": {"id": "u-1", "name": "Jane"}}))
    for _ in range(2):
        assert "Signed in as <strong>Jane</strong>" in client.get(tenant.page).get_data(as_text=True)
    assert 'name="email"' in client.get(other.page).get_data(as_text=True)


def test_sign_out_revokes_the_session_for_the_widget_api_too(client, tenant):
    client.get(tenant.link({"user": {"id": "u-1"}}))
    bearer = client.get_cookie(tenant.cookie, path=tenant.page).value
    api = f"/api/v1/widget/{tenant.public_id}/conversations"
    assert client.get(api, headers={"Authorization": f"Bearer {bearer}"}).status_code == 200

    response = sign_out(client, tenant)
    assert response.status_code == 303 and response.headers["Location"] == tenant.page
    cleared = set_cookie_header(response, tenant.cookie)
    assert "Max-Age=0" in cleared and f"Path={tenant.page}" in cleared
    assert client.get(api, headers={"Authorization": f"Bearer {bearer}"}).status_code == 401
    body = client.get(tenant.page).get_data(as_text=True)
    assert "Signed in as" not in body and '<label for="email">Email</label>' in body


def test_sign_out_needs_the_csrf_token(client, tenant):
    client.get(tenant.link({"user": {"id": "u-1"}}))
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post(f"{tenant.page}/sign-out", data=data).status_code == 400
    assert "Signed in as" in client.get(tenant.page).get_data(as_text=True)


def test_a_session_revoked_elsewhere_signs_the_page_out(client, tenant):
    client.get(tenant.link({"user": {"id": "u-1"}}))
    bearer = client.get_cookie(tenant.cookie, path=tenant.page).value
    assert client.post(f"/api/v1/widget/{tenant.public_id}/logout", json={},
                       headers={"Authorization": f"Bearer {bearer}"}).status_code == 204
    response = client.get(tenant.page)
    assert "Signed in as" not in response.get_data(as_text=True)
    assert "Max-Age=0" in set_cookie_header(response, tenant.cookie)


def test_an_expired_session_is_signed_out(client, app, tenant):
    from webapp.services.end_users import sessions, snapshots

    add_user(app, tenant, "u-1")
    with app.test_request_context():
        info = snapshots.tenant(tenant.public_id)
        user = snapshots.user_by_id(user_row(app, tenant, "u-1").id)
        old, _ = sessions.issue(info, user=user, how=sessions.UNSIGNED, now=time.time() - 25 * 3600)
        fresh, _ = sessions.issue(info, user=user, how=sessions.UNSIGNED)
    client.set_cookie(tenant.cookie, fresh, path=tenant.page)
    assert "Signed in as" in client.get(tenant.page).get_data(as_text=True)
    client.set_cookie(tenant.cookie, old, path=tenant.page)
    assert "Signed in as" not in client.get(tenant.page).get_data(as_text=True)
    client.set_cookie(tenant.cookie, "forged.value", path=tenant.page)
    assert "Signed in as" not in client.get(tenant.page).get_data(as_text=True)


def test_a_new_link_replaces_and_revokes_the_previous_session(client, tenant):
    client.get(tenant.link({"user": {"id": "u-1"}}))
    first = client.get_cookie(tenant.cookie, path=tenant.page).value
    client.get(tenant.link({"user": {"id": "u-2", "name": "Second"}}))
    assert "Signed in as <strong>Second</strong>" in client.get(tenant.page).get_data(as_text=True)
    api = f"/api/v1/widget/{tenant.public_id}/conversations"
    assert client.get(api, headers={"Authorization": f"Bearer {first}"}).status_code == 401


def test_seats_the_next_new_user_is_refused_and_existing_ones_still_get_in(client, app, tenant):
    configure(app, tenant, seat_limit=2)
    add_signed_user(app, tenant, "u-1", name="First")
    add_user(app, tenant, "walk-in")  # known only from unsigned data: takes no seat
    assert client.get(tenant.link({"user": {"id": "u-2"}})).status_code == 303  # the last seat
    before = stored_counts(app)
    refused = client.get(tenant.link({"user": {"id": "u-3"}}))
    assert refused.status_code == 403
    assert "This workspace has no seats left — contact its admin" in refused.get_data(as_text=True)
    assert user_row(app, tenant, "u-3") is None and stored_counts(app) == before
    assert client.get(tenant.link({"user": {"id": "u-1", "name": "First again"}})).status_code == 303
    assert client.get(tenant.link({"id": "u-2"})).status_code == 303
    # A link with a user object verifies the unsigned user: that takes a seat, and none is left.
    assert client.get(tenant.link({"user": {"id": "walk-in"}})).status_code == 403
    assert user_row(app, tenant, "walk-in").verified is False
    assert user_count(app, tenant) == 3


def test_unknown_tenant_is_a_readable_404(client):
    response = client.get("/m/no-such-workspace?externalAuthCode=abc")
    assert response.status_code == 404
    assert "No such messenger" in response.get_data(as_text=True)


def test_referrer_policy_is_no_referrer_on_every_hosted_response(client, app, tenant):
    add_user(app, tenant, "u-1", email="jane@example.com")
    responses = [
        client.get(tenant.page),
        client.get(tenant.link({"user": {"id": "u-1"}})),
        client.get(tenant.page),
        client.get(tenant.link({"user": {"id": "u-1"}}, ttl=-3600)),
        client.get("/m/no-such-workspace"),
        client.get(f"{tenant.page}/email/not-a-real-token"),
        client.post(f"{tenant.page}/email", data={"email": "jane@example.com"}),  # no CSRF: 400
        client.post(f"{tenant.page}/sign-out"),
        client.post(tenant.page),  # 405
        client.get(f"{tenant.page}/nothing/here"),  # 404, no route
    ]
    sign_out(client, tenant)
    for response in responses:
        assert response.headers["Referrer-Policy"] == "no-referrer", (response.status_code, response.request.path)
        if response.mimetype == "text/html":
            assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], response.request.path


def test_the_page_has_no_inline_script_and_hands_the_session_to_the_widget(client, tenant):
    client.get(tenant.link({"user": {"id": "u-1", "name": "O'Brien <b>"}}))
    response = client.get(tenant.page)
    body = response.get_data(as_text=True)
    assert "script-src 'self';" in response.headers["Content-Security-Policy"]
    assert re.findall(r"<script(?![^>]*\bsrc=)", body) == []
    assert 'data-launcher="false"' in body and "<b>" not in body
    assert page_user(response)["name"] == "O'Brien <b>"


def test_a_login_only_code_refused_for_its_ctx_uses_nothing_up_and_changes_nothing(client, app, two_users):
    """Every check runs before the first write: a bad ctx leaves the jti, last seen and rows alone."""
    before = stored_counts(app)
    seen = user_row(app, two_users, "u-a").last_seen_at
    claims = {"id": "u-a", "jti": "ctx-1", "iat": int(time.time()), "ctx": "admin"}
    response = client.get(two_users.link(claims))
    assert response.status_code == 400 and "ctx" in response.get_data(as_text=True)
    assert stored_counts(app) == before and user_row(app, two_users, "u-a").last_seen_at == seen
    assert client.get(two_users.link({**claims, "ctx": {"role": "admin"}})).status_code == 303  # not used up


def test_an_exp_too_large_for_a_float_is_malformed_not_a_500(client, app, tenant):
    before = stored_counts(app)
    head, _payload, sig = tenant.sign({"user": {"id": "u-1"}}).split(".")
    forged = base64.urlsafe_b64encode(b'{"user":{"id":"u-1"},"exp":1' + b"0" * 400 + b"}").decode().rstrip("=")
    response = client.get(f"{tenant.page}?externalAuthCode={head}.{forged}.{sig}")
    assert response.status_code == 401 and "token_malformed" in response.get_data(as_text=True)
    assert stored_counts(app)["end_user"] == before["end_user"]


def test_an_email_claimed_in_unsigned_data_never_catches_someone_elses_sign_in(client, app, tenant):
    """Mallory sends setUser({id: "mallory", email: <victim's>}) unsigned. A signed link naming that
    email signs in the victim, whose email is proven; an email only unsigned data claims signs in
    nobody (unknown_user), whether one user or two claim it."""
    assert client.get(tenant.link({"user": {"id": "victim", "email": "vic@corp.example", "name": "Vic"}})).status_code == 303
    add_user(app, tenant, "mallory", email="VIC@corp.example", name="Mallory")  # seen more recently
    other = app.test_client()
    assert other.get(tenant.link({"email": "vic@corp.example"})).status_code == 303
    assert "Signed in as <strong>Vic</strong>" in other.get(tenant.page).get_data(as_text=True)

    add_user(app, tenant, "u-1", email="same@corp.example")
    add_user(app, tenant, "u-2", email="same@corp.example")
    response = app.test_client().get(tenant.link({"email": "same@corp.example"}))
    assert response.status_code == 401 and "unknown_user" in response.get_data(as_text=True)

    add_user(app, tenant, "mallory-2", email="only@corp.example")  # the only claimant: still nobody
    response = app.test_client().get(tenant.link({"email": "only@corp.example"}))
    assert response.status_code == 401 and "unknown_user" in response.get_data(as_text=True)
