"""Staff one-time tokens stay out of every URL but the mailed link's own, out of every Referer
and out of gunicorn's access log (security review of the staff accounts, finding 1): an
invitation token there would let whoever reads the log create the invited account."""
from __future__ import annotations

import http.cookiejar
import re
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.hosted.logsafe import scrub
from webapp.models import Member, Membership
from webapp.services.workspace import invitations, members, tenants
from webapp.infra import mailer

from .conftest import PASSWORD
from .helpers import csrf_of
from .servers import Server, migrated_app

SECRET_KEY = "staff-link-secrecy-secret-key"
TOKEN = "SECRETtokenABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"


# --- The middleware: a token path in a query value or a Referer is redacted ------------------------

@pytest.mark.parametrize("value", [
    "/invitations/{t}", "%2Finvitations%2F{t}", "%252Finvitations%252F{t}", "/INVITATIONS/{t}/accept",
    "//invitations//{t}", "/x/../invitations/{t}", "/invitations/./{t}", "\\invitations\\{t}",
    "https://signet.example/invitations/{t}?a=1", "/account/verify/{t}", "/password/reset/{t}",
    "/m/acme/email/{t}", "%EF%BC%8Finvitations%EF%BC%8F{t}",  # full-width solidus
])
def test_a_query_value_holding_a_token_path_is_redacted(value):
    query = "a=1&next=" + value.format(t=TOKEN) + "&b=2"
    environ = {"PATH_INFO": "/login", "QUERY_STRING": query, "RAW_URI": "/login?" + query,
               "REQUEST_URI": "/login?" + query}
    scrub(environ)
    assert environ["QUERY_STRING"] == "a=1&next=redacted&b=2"
    assert environ["RAW_URI"] == environ["REQUEST_URI"] == "/login?a=1&next=redacted&b=2"
    assert TOKEN not in repr(environ)


def test_a_query_name_holding_a_token_path_and_a_referer_are_redacted():
    environ = {"PATH_INFO": "/static/css/app.css", "QUERY_STRING": f"/invitations/{TOKEN}&v=3",
               "HTTP_REFERER": f"http://127.0.0.1:5000/login?next=%2Finvitations%2F{TOKEN}"}
    scrub(environ)
    assert environ["QUERY_STRING"] == "redacted&v=3"
    assert environ["HTTP_REFERER"] == "http://127.0.0.1:5000/redacted"


@pytest.mark.parametrize("query", ["next=/invitations/pending", "next=/account/verify/resend",
                                   "next=/settings/team", "q=reset+my+password"])
def test_other_query_values_are_left_alone(query):
    environ = {"PATH_INFO": "/login", "QUERY_STRING": query, "RAW_URI": "/login?" + query,
               "HTTP_REFERER": "http://127.0.0.1/invitations/pending"}
    before = dict(environ)
    scrub(environ)
    assert environ == before


# --- No Referer leaves a token page, /login or the pending invitation ------------------------------

@pytest.mark.parametrize("method, path", [
    ("GET", "/login"), ("GET", f"/login?next=/invitations/{TOKEN}"), ("GET", "/invitations/pending"),
    ("GET", f"/invitations/{TOKEN}"), ("POST", f"/invitations/{TOKEN}/accept"),  # 400: no CSRF token
    ("GET", f"/invitations/{TOKEN}/accept"),  # 405
    ("GET", f"/account/verify/{TOKEN}"), ("POST", f"/account/verify/{TOKEN}"), ("GET", f"/password/reset/{TOKEN}"),
    ("POST", f"/password/reset/{TOKEN}"), ("GET", f"/invitations/{TOKEN}/nothing-here"),  # 404
])
def test_token_pages_and_login_send_no_referrer(client, method, path):
    response = client.open(path, method=method)
    assert response.headers["Referrer-Policy"] == "no-referrer", (response.status_code, path)


def test_other_pages_keep_same_origin(client):
    assert client.get("/signup").headers["Referrer-Policy"] == "same-origin"


# --- Through a real gunicorn access log ------------------------------------------------------------

class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


class Browser:
    """urllib with cookies that does not follow redirects and records every answer's headers."""

    def __init__(self, base: str):
        self.base = base
        handlers = (_NoRedirect, urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))
        self.opener = urllib.request.build_opener(*handlers)

    def open(self, path: str, data: dict | None = None, referer: str | None = None) -> tuple[int, dict, str]:
        body = urllib.parse.urlencode(data).encode() if data is not None else None
        request = urllib.request.Request(self.base + path, data=body, headers={"Referer": referer} if referer else {})
        try:
            with self.opener.open(request, timeout=10) as response:
                return response.status, dict(response.headers), response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, dict(error.headers), error.read().decode()


def _wait_for(log, needle: str, timeout: float = 10) -> str:
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log.read_text() if log.exists() else ""
        if needle in text:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} never reached the access log")


def test_an_invitation_token_never_reaches_the_access_log(tmp_path, monkeypatch):
    """The invitee opens the mailed link logged out, presses "Log in as …", logs in, accepts.
    Also an old-style `/login?next=/invitations/<token>` (encoded twice) and a browser that sends
    a Referer anyway: the token reaches neither the log nor any Location."""
    url, app = migrated_app(tmp_path, SECRET_KEY, "secrecy.sqlite3")
    sent = []
    monkeypatch.setattr(mailer, "send", lambda to, subject, body, **kwargs: sent.append(body))
    log = tmp_path / "access.log"
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY,
                     "SIGNET_TEST_LOG_DIR": str(tmp_path)}, access_log=str(log))
    try:
        with app.app_context():
            tenant = tenants.create_tenant("Victim", "owner@victim.example", PASSWORD)
            tenants.create_tenant("Elsewhere", "newhire@victim.example", PASSWORD)  # the invitee's account
            invitations.invite(tenant, "newhire@victim.example", "admin", members.find_member("owner@victim.example"),
                               "owner", link_base=server.url)
            tenant_id = tenant.id
            db.session.remove()
            db.engine.dispose()
        token = re.search(r"/invitations/([A-Za-z0-9_-]+)", sent[0]).group(1)
        browser, answers = Browser(server.url), []
        status, headers, page = browser.open(f"/invitations/{token}")
        assert status == 200 and headers["Referrer-Policy"] == "no-referrer"
        assert not re.search(r'href="[^"]*' + re.escape(token), page)  # no link carries it
        answers.append(browser.open(f"/invitations/{token}/accept", {"csrf_token": csrf_of(page)},
                                    referer=f"{server.url}/invitations/{token}"))
        assert answers[-1][0] == 302 and answers[-1][1]["Location"] == "/login?next=/invitations/pending"
        status, headers, login_page = browser.open("/login?next=/invitations/pending",
                                                   referer=f"{server.url}/invitations/{token}")
        assert status == 200 and headers["Referrer-Policy"] == "no-referrer"
        old_style = browser.open(f"/login?next={urllib.parse.quote(urllib.parse.quote('/invitations/' + token, ''))}")
        assert old_style[0] == 200 and token not in old_style[2]
        browser.open("/static/css/app.css", referer=f"{server.url}/login?next=/invitations/{token}")
        answers.append(browser.open("/login", {"email": "newhire@victim.example", "password": PASSWORD,
                                               "next": "/invitations/pending", "csrf_token": csrf_of(login_page)}))
        assert answers[-1][1]["Location"] == "/invitations/pending"
        status, headers, pending = browser.open("/invitations/pending")
        assert status == 200 and ">Accept the invitation<" in pending and headers["Referrer-Policy"] == "no-referrer"
        answers.append(browser.open(f"/invitations/{token}/accept", {"csrf_token": csrf_of(pending)},
                                    referer=f"{server.url}/invitations/pending"))
        assert answers[-1][0] == 302
        assert browser.open("/healthz?done=1")[0] == 200
        text = _wait_for(log, "/healthz?done=1")
        assert '"GET /login?next=redacted HTTP/1.1"' in text and "/invitations/pending" in text
        everything = text + server.output() + repr([(s, h) for s, h, _ in answers])
        for fragment in (token, token[:16], token[-16:]):
            assert fragment not in everything
        with app.app_context():
            joined = db.session.scalars(select(Membership.role).join(Member).where(
                Member.email == "newhire@victim.example", Membership.tenant_id == tenant_id)).all()
            assert joined == ["admin"]
    finally:
        server.stop()


# --- Their forms still post over https, where browsers send them no Referer ------------------------

HTTPS = {"base_url": "https://localhost"}


def _post_from(client, page_path: str, action: str, **fields):
    """Open the page over https and post its form as a browser under no-referrer does: no Referer."""
    page = client.get(page_path, **HTTPS)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    return client.post(action, data={**fields, "csrf_token": csrf_of(page.get_data(as_text=True))}, **HTTPS)


def test_forms_on_no_referrer_pages_post_over_https_without_a_referer(app, smtp, factory):
    """Flask-WTF's https rule wants a same-origin Referer, which these pages withhold: their
    views check the session-bound token without it (a missing or foreign token is still 400)."""
    from .test_staff_accounts import invite, signup

    tenant = factory.tenant()
    browser = app.test_client()
    assert _post_from(browser, "/login", "/login", email=tenant.owner, password=PASSWORD).status_code == 302
    assert invite(browser, "joiner@example.com", "agent").status_code == 302  # a same-origin page: Referer sent
    invitation = smtp.link("joiner@example.com", "/invitations/")
    page = browser.get(invitation, **HTTPS).get_data(as_text=True)
    assert "You are logged in as" in page  # another address: the page offers its logout form
    assert browser.post("/logout", data={"csrf_token": csrf_of(page)}, **HTTPS).status_code == 302
    assert _post_from(browser, invitation, invitation + "/accept").headers["Location"] == "/login?next=/invitations/pending"
    joiner = app.test_client()
    assert _post_from(joiner, invitation, invitation + "/signup", password=PASSWORD).status_code == 302
    assert signup(app.test_client(), "https@example.com").status_code == 200
    verify = smtp.link("https@example.com", "/account/verify/")
    assert _post_from(app.test_client(), verify, verify, password=PASSWORD).status_code == 302
    assert post_over_https(app.test_client(), "/password/forgot", {"email": "https@example.com"}).status_code == 200
    reset = smtp.link("https@example.com", "/password/reset/")
    assert _post_from(app.test_client(), reset, reset, password="a brand new passphrase").status_code == 302
    # Without the page's token, or with another browser's: refused as before.
    stranger, victim = app.test_client(), app.test_client()
    foreign = csrf_of(stranger.get("/login", **HTTPS).get_data(as_text=True))
    for token in (None, foreign):
        data = {"email": tenant.owner, "password": PASSWORD, **({"csrf_token": token} if token else {})}
        assert victim.post("/login", data=data, **HTTPS).status_code == 400
    assert victim.get("/inbox", **HTTPS).headers["Location"].startswith("/login")


def post_over_https(client, path: str, data: dict):
    """A form on a same-origin page (Referrer-Policy: same-origin): the browser sends a Referer,
    and the global check still demands it."""
    html = client.get(path, **HTTPS).get_data(as_text=True)
    fields = {**data, "csrf_token": csrf_of(html)}
    assert client.post(path, data=fields, **HTTPS).status_code == 400  # no Referer: refused
    return client.post(path, data=fields, headers={"Referer": f"https://localhost{path}"}, **HTTPS)
