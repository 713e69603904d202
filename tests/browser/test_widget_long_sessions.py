"""Issue 16 in Chromium: a token provider keeps a long-open page signed in as the same verified
user past its session's end (SIGNET_WIDGET_SESSION_SECONDS shortened to 12 s), a message typed
while the token is being renewed is delivered once, and a failing provider yields
token_refresh_failed, never an anonymous visitor."""
import json
import time
import uuid

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import EndUser, Message
from webapp.services.end_users import sessions

from ..factories import make_workspace
from ..servers import Server, migrated_app
from .conftest import SECRET_KEY, TenantHandle
from .test_widget import html, open_messenger, send, wait_user

pytestmark = pytest.mark.browser
SESSION_SECONDS = 12


class ShortSessions:
    """Signet served with 12-second widget sessions."""

    def __init__(self, tmp_path):
        url, self.app = migrated_app(tmp_path, SECRET_KEY, "short.sqlite3", SIGNET_RATELIMIT=None)
        self.server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY,
                              "SIGNET_WIDGET_SESSION_SECONDS": str(SESSION_SECONDS)})
        self.url = self.server.url

    def tenant(self, origins):
        return TenantHandle(self, make_workspace(self.app, "Shop", allowed_origins=origins))


@pytest.fixture(scope="module")
def short(tmp_path_factory):
    handle = ShortSessions(tmp_path_factory.mktemp("short"))
    yield handle
    handle.server.stop()


def provider_page(page, site, tenant, user_id: str, script: str) -> list:
    """Expose `mint()` (a fresh 60 s token with a jti for `user_id`) and record every request to
    Signet's API as (method, path, body)."""
    page.expose_function("mint", lambda: tenant.token(user_id, exp=int(time.time()) + 60, jti=uuid.uuid4().hex))
    requests = []
    page.on("request", lambda r: requests.append((r.method, r.url.split("/api/v1/widget/")[-1], r.post_data))
            if "/api/v1/widget/" in r.url else None)
    page.goto(site.page(html(
        "<script>window.calls = 0; window.errors = []; window.seen = [];"
        "signet.on('error', function (e) { errors.push([e.code, e.cause || null]); });"
        "signet.on('identified', function (u) { seen.push([u.id, u.verified, u.anonymous]); });"
        f"{script}</script>", tenant.snippet())))
    return requests


def set_users(requests) -> list:
    return [json.loads(body or "{}") for method, path, body in requests if path.endswith("/set-user")]


def test_a_provider_keeps_the_same_verified_user_past_the_session_end(short, site, page):
    tenant = short.tenant([site.origin])
    # The second call (the renewal) takes 3 s: a message is typed meanwhile.
    requests = provider_page(page, site, tenant, "ivy", (
        "signet.setUser({jwt: function () { calls++; var slow = calls === 2 ? 3000 : 0;"
        " return new Promise(function (r) { setTimeout(r, slow); }).then(function () { return window.mint(); }); }});"))
    started = time.time()
    assert wait_user(page, "signet.user && signet.user.id === 'ivy'")["verified"] is True
    open_messenger(page)
    send(page, "Before the renewal")
    page.locator("signet-messenger #msgs li", has_text="Before the renewal").wait_for()
    page.wait_for_function("window.calls === 2", timeout=SESSION_SECONDS * 1000)
    assert time.time() - started < SESSION_SECONDS  # renewed before the end, not after a 401
    box = page.locator("signet-messenger #msg")
    box.fill("Typed during the renewal")
    box.press("Enter")
    page.locator("signet-messenger #msgs li", has_text="Typed during the renewal").wait_for(timeout=10000)
    assert box.input_value() == ""
    # Past the first session's end, polling on with the renewed session.
    page.wait_for_timeout(max(0, int((started + SESSION_SECONDS + 3 - time.time()) * 1000)))
    assert page.evaluate("calls") == 2
    assert page.evaluate("signet.user.id") == "ivy" and page.evaluate("signet.user.verified") is True
    assert page.evaluate("errors") == []
    assert all(u == ["ivy", True, False] for u in page.evaluate("seen"))
    bodies = set_users(requests)
    assert len(bodies) == 2 and all(set(b) == {"jwt"} for b in bodies)  # never {id: null}
    # The message was posted once, after the renewal's set-user.
    order = [path.rsplit("/", 1)[-1] for method, path, body in requests if method == "POST"]
    assert order.count("messages") == 1 and order.index("messages") > [i for i, p in enumerate(order) if p == "set-user"][1]
    with short.app.app_context():
        rows = db.session.scalars(select(Message).where(Message.tenant_id == tenant.id).order_by(Message.id)).all()
        assert [m.body for m in rows] == ["Before the renewal", "Typed during the renewal"]
        assert {(m.sender_via, m.sender_key) for m in rows} == {("token", tenant.kid)}
        db.session.remove()
    assert page.locator("signet-messenger #msgs li", has_text="Typed during the renewal").count() == 1


def end_sessions(short, tenant, external_id):
    with short.app.app_context():
        row = db.session.scalar(select(EndUser).where(EndUser.tenant_id == tenant.id, EndUser.external_id == external_id))
        assert sessions.end_all_for_user(tenant.id, row.id)
        db.session.remove()


@pytest.mark.parametrize("failure", ["rejects", "same_token"])
def test_a_failing_provider_yields_token_refresh_failed_and_never_an_anonymous_user(short, site, page, failure):
    tenant = short.tenant([site.origin])
    later = ("Promise.reject(new Error('backend down'))" if failure == "rejects" else "window.first")
    requests = provider_page(page, site, tenant, "jo", (
        "signet.setUser({jwt: function () { calls++; if (calls > 1) return " + later + ";"
        " return window.mint().then(function (t) { window.first = t; return t; }); }});"))
    wait_user(page, "signet.user && signet.user.id === 'jo'")
    open_messenger(page)
    end_sessions(short, tenant, "jo")  # the next poll answers 401 session_invalid
    page.wait_for_function("errors.some(function (e) { return e[0] === 'token_refresh_failed'; })", timeout=10000)
    cause = "token_provider_failed" if failure == "rejects" else "token_reused"
    assert ["token_refresh_failed", cause] in page.evaluate("errors")
    panel = page.locator("signet-messenger #err")
    panel.wait_for(state="visible")
    assert "Reconnecting" in panel.text_content()
    page.wait_for_timeout(5000)  # backoff: 2 s, then 4 s
    calls = page.evaluate("calls")
    # 1 to identify, then per attempt: 1 (rejects) or 2 (the replayed token, then the same one again)
    assert 2 <= calls <= (4 if failure == "rejects" else 7), calls
    assert page.evaluate("signet.user.id") == "jo" and page.evaluate("signet.user.anonymous") is False
    assert all(set(body) == {"jwt"} for body in set_users(requests))  # never {id: null}
    if failure == "same_token":  # the replayed token was sent once per attempt at most, never in a loop
        assert len(set_users(requests)) <= 1 + 3
