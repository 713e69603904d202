"""Signup, login, logout, throttling, redirects and the session cookie."""
import re

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Member, Membership, Tenant
from webapp.infra import background

from .conftest import PASSWORD
from .helpers import csrf_of, login, post_form


def signup(client, workspace="Globex", email="new@example.com", password=PASSWORD):
    return post_form(client, "/signup", {"workspace": workspace, "email": email, "password": password})


def test_login_page_has_the_contract_labels(client):
    html = client.get("/login").get_data(as_text=True)
    assert '<label for="email">Email</label>' in html
    assert '<label for="password">Password</label>' in html
    assert ">Log in</button>" in html


def test_signup_creates_tenant_and_unverified_owner_and_the_mailed_link_logs_in(app, client, capfd):
    """Sign-up makes the workspace and its owner, but the account can act only once the owner of
    the address opened the mailed link (mails print to the console when no SMTP is set)."""
    response = signup(client)
    assert response.status_code == 200
    assert "Check your email" in response.get_data(as_text=True)
    assert background.wait_idle()
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.email == "new@example.com"))
        assert member.password_hash != PASSWORD and PASSWORD not in member.password_hash
        assert member.password_hash.startswith("scrypt:")
        assert member.email_verified_at is None
        link = db.session.scalar(select(Membership).where(Membership.member_id == member.id))
        assert link.role == "owner" and link.tenant.name == "Globex"
    assert client.get("/inbox").status_code == 302  # not signed in by the sign-up itself
    url = re.search(r"verify new@example.com -> http://localhost(/account/verify/\S+)", capfd.readouterr().err)
    assert url, "no verification link on the console"
    assert client.get(url.group(1)).status_code == 200  # reading the link uses nothing up
    assert post_form(client, url.group(1), {"password": PASSWORD}).status_code == 302
    assert client.get("/inbox").status_code == 200
    with app.app_context():
        assert db.session.scalar(select(Member.email_verified_at).where(Member.email == "new@example.com"))


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"email": "not-an-email"}, "valid email"),
        ({"password": "short"}, "too weak"),
        ({"password": "aaaaaaaaaaaaaa"}, "too weak"),
        ({"workspace": " "}, "required"),
    ],
)
def test_signup_refuses_bad_input_and_creates_nothing(app, client, fields, message):
    response = signup(client, **fields)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True).lower()
    with app.app_context():
        assert db.session.scalar(select(Tenant)) is None
        assert db.session.scalar(select(Member)) is None


def test_signup_with_a_taken_email_answers_as_for_a_new_one_and_creates_nothing(app, client, factory):
    tenant = factory.tenant()
    taken = signup(client, email=tenant.owner)
    fresh = signup(app.test_client(), email="fresh@example.com")
    assert taken.status_code == fresh.status_code == 200
    assert "already exists" not in taken.get_data(as_text=True)
    assert taken.get_data(as_text=True).replace(tenant.owner, "X") == \
        fresh.get_data(as_text=True).replace("fresh@example.com", "X")
    assert background.wait_idle()
    with app.app_context():
        assert len(db.session.scalars(select(Tenant)).all()) == 2  # the owner's, and fresh@'s only


def test_login_and_wrong_password(client, factory):
    tenant = factory.tenant()
    bad = login(client, tenant.owner, "wrong password!!")
    assert bad.status_code == 401
    assert "Wrong email or password." in bad.get_data(as_text=True)
    assert client.get("/inbox").status_code == 302
    unknown = login(client, "nobody@example.com", PASSWORD)
    assert unknown.status_code == 401 and "Wrong email or password." in unknown.get_data(as_text=True)
    good = login(client, tenant.owner.upper(), PASSWORD)
    assert good.status_code == 302
    assert client.get("/inbox").status_code == 200


def test_logout_ends_the_session(app, owner_client):
    copy = app.test_client()  # the same cookie, copied before logout (another tab, a stolen copy)
    copy.set_cookie("signet_session", owner_client.get_cookie("signet_session").value)
    assert copy.get("/inbox").status_code == 200
    page = owner_client.get("/logout")
    assert page.status_code == 200
    response = owner_client.post("/logout", data={"csrf_token": csrf_of(page.get_data(as_text=True))})
    assert response.status_code == 302
    assert owner_client.get("/inbox").status_code == 302
    assert copy.get("/inbox").status_code == 302  # the copy ends with it
    assert login(owner_client, owner_client.tenant.owner, PASSWORD).status_code == 302  # a new login works


def test_dashboard_requires_login_and_keeps_next(client):
    response = client.get("/settings/team")
    assert response.status_code == 302
    assert "/login?next=/settings/team" in response.headers["Location"]


@pytest.mark.parametrize(
    "target, expected",
    [
        ("/settings/team", "/settings/team"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        ("javascript:alert(1)", "/"),
        ("/inbox\r\nSet-Cookie: planted=1", "/"),  # a header cannot carry CR/LF: refused, not a 500
        ("/inbox\nLocation: https://evil.example/", "/"),
        ("/inbox\t", "/"),
        ("/inbox\x7f", "/"),
    ],
)
def test_login_redirects_only_to_relative_paths(client, factory, target, expected):
    tenant = factory.tenant()
    html = client.get("/login").get_data(as_text=True)
    response = client.post(
        "/login",
        data={"email": tenant.owner, "password": PASSWORD, "next": target, "csrf_token": csrf_of(html)},
    )
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_a_logged_in_visit_to_login_with_a_control_character_in_next_is_no_500(owner_client):
    for target in ("/users%0d%0aSet-Cookie:%20planted=1", "/users%0a", "/users"):
        response = owner_client.get(f"/login?next={target}")
        assert response.status_code == 302
        assert response.headers["Location"] == ("/users" if target == "/users" else "/")


def _fail(client, email, address):
    html = client.get("/login").get_data(as_text=True)
    return client.post(
        "/login",
        data={"email": email, "password": "wrong password!!", "csrf_token": csrf_of(html)},
        environ_base={"REMOTE_ADDR": address},
    )


def test_login_throttled_per_address(client, factory):
    tenant = factory.tenant()
    for i in range(10):
        assert _fail(client, f"user{i}@example.com", "203.0.113.7").status_code == 401
    blocked = _fail(client, "someone@example.com", "203.0.113.7")
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    # Another address is not affected.
    html = client.get("/login").get_data(as_text=True)
    ok = client.post(
        "/login",
        data={"email": tenant.owner, "password": PASSWORD, "csrf_token": csrf_of(html)},
        environ_base={"REMOTE_ADDR": "198.51.100.1"},
    )
    assert ok.status_code == 302


def test_login_throttled_per_account_even_with_the_right_password(client, factory):
    tenant = factory.tenant()
    for i in range(10):
        assert _fail(client, tenant.owner, f"198.51.100.{i + 10}").status_code == 401
    html = client.get("/login").get_data(as_text=True)
    blocked = client.post(
        "/login",
        data={"email": tenant.owner, "password": PASSWORD, "csrf_token": csrf_of(html)},
        environ_base={"REMOTE_ADDR": "192.0.2.99"},
    )
    assert blocked.status_code == 429
    assert "Retry-After" in blocked.headers


def test_successful_logins_are_not_counted(client, factory):
    tenant = factory.tenant()
    for _ in range(12):
        assert login(client, tenant.owner, PASSWORD).status_code == 302
        client.post("/logout", data={"csrf_token": csrf_of(client.get("/logout").get_data(as_text=True))})


def test_session_cookie_flags_and_reissue_at_login(app, factory):
    tenant = factory.tenant()
    client = app.test_client()
    client.get("/login")
    before = client.get_cookie("signet_session").value
    response = login(client, tenant.owner, PASSWORD)
    header = response.headers["Set-Cookie"]
    assert "HttpOnly" in header and "SameSite=Lax" in header and "Secure" not in header
    assert client.get_cookie("signet_session").value != before


def test_session_cookie_is_secure_over_https(app, factory):
    app.config["TRUSTED_HOSTS"] = ["signet.example"]  # a deployment's own host name (SIGNET_TRUSTED_HOSTS)
    tenant = factory.tenant()
    client = app.test_client()
    html = client.get("/login", base_url="https://signet.example").get_data(as_text=True)
    response = client.post(
        "/login",
        data={"email": tenant.owner, "password": PASSWORD, "csrf_token": csrf_of(html)},
        base_url="https://signet.example",
        headers={"Referer": "https://signet.example/login"},  # as a browser sends; CSRF checks it over https
    )
    assert response.status_code == 302
    assert "Secure" in response.headers["Set-Cookie"]


def test_dashboard_pages_send_csp_with_frame_ancestors_none(app, owner_client):
    assert "frame-ancestors 'none'" in app.test_client().get("/login").headers["Content-Security-Policy"]
    for path in ("/inbox", "/users", "/organizations", "/settings/workspace", "/settings/team"):
        response = owner_client.get(path)
        assert response.status_code == 200, path
        assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"], path


def test_healthz(client):
    response = client.get("/healthz")
    assert response.status_code == 200 and response.json == {"status": "ok"}
