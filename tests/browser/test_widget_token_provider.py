"""Issue 16 in Chromium, the element form of a token provider: `<signet-widget>`'s
`tokenProvider` property identifies the verified user, and after the server ends the session
the element asks its provider once more and carries on as the same user (the message that met
the ended session is stored once)."""
import time
import uuid

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Message

from .test_widget import html
from .test_widget_long_sessions import end_sessions, short  # noqa: F401  (short: the served app)

pytestmark = pytest.mark.browser

# A <signet-widget> for kim whose events are kept in window.events; its token provider counts its
# calls in window.calls and asks the test (window.mint) for a token. `provide` sets it.
ELEMENT = ("<signet-widget id='w' user-id='kim'></signet-widget>"
           "<script>window.calls = 0; window.events = [];"
           "var w = document.getElementById('w');"
           "['identified', 'error'].forEach(function (type) { w.addEventListener(type, function (e) {"
           " events.push([type, e.detail.code || e.detail.id, e.detail.verified === true]); }); });"
           "var provider = function () { calls++; return window.mint(); };{provide}</script>")
PAGE = ELEMENT.replace("{provide}", "customElements.whenDefined('signet-widget').then(function () {"
                                    " w.tokenProvider = provider; });")


def _minting(short, site, page):
    """A workspace allowing the customer site, and window.mint() on the page making kim's tokens."""
    tenant = short.tenant([site.origin])
    page.expose_function("mint", lambda: tenant.token("kim", exp=int(time.time()) + 60, jti=uuid.uuid4().hex))
    return tenant


def test_the_elements_token_provider_identifies_and_renews_once_after_a_forced_end(short, site, page):  # noqa: F811
    tenant = _minting(short, site, page)
    set_users = []
    page.on("request", lambda r: set_users.append(r.post_data) if r.url.endswith("/set-user") else None)
    answers = []  # (path tail, status) of every widget API answer, in order
    page.on("response", lambda r: answers.append((r.url.rsplit("/", 1)[-1], r.status)) if "/api/v1/widget/" in r.url else None)
    page.goto(site.page(html(PAGE, tenant.snippet('data-launcher="false"'))))
    page.wait_for_function("events.length >= 1", timeout=15000)
    assert page.evaluate("events") == [["identified", "kim", True]] and page.evaluate("calls") == 1
    assert page.locator("#w").evaluate("e => e.tokenProvider !== null")

    end_sessions(short, tenant, "kim")  # long before the planned renewal (a fifth of 12 s before the end)
    if page.locator("#w #new").is_visible():
        page.locator("#w #new").click()
    box = page.locator("#w #msg")
    box.fill("After the forced end")
    box.press("Enter")
    page.locator("#w #msgs li", has_text="After the forced end").wait_for(timeout=10000)
    page.wait_for_function("events.length >= 2", timeout=10000)
    page.wait_for_timeout(1500)  # nothing more: no second renewal, no retry loop
    assert page.evaluate("calls") == 2
    assert page.evaluate("events") == [["identified", "kim", True], ["identified", "kim", True]]
    # The renewal came from the ended session's 401, not from the planned renewal.
    first_401 = next(i for i, (_, status) in enumerate(answers) if status == 401)
    assert any(tail == "set-user" and status == 200 for tail, status in answers[first_401:])
    # The element's set-user calls (the page-wide messenger's anonymous visitor is another session).
    assert len([body for body in set_users if '"jwt"' in body]) == 2
    with short.app.app_context():
        rows = db.session.scalars(select(Message).where(Message.tenant_id == tenant.id)).all()
        assert [(m.body, m.sender_via) for m in rows] == [("After the forced end", "token")]
        db.session.remove()


# Set before signet.js has defined the element: a plain own property of an HTMLElement.
EARLY = ELEMENT.replace("{provide}", "w.tokenProvider = provider;")


def test_a_token_provider_set_before_the_element_is_defined_is_used(short, site, page):  # noqa: F811
    tenant = _minting(short, site, page)
    page.goto(site.page(html(EARLY, tenant.snippet('data-launcher="false"'))))
    page.wait_for_function("events.length >= 1", timeout=15000)
    assert page.evaluate("events") == [["identified", "kim", True]] and page.evaluate("calls") == 1
    assert page.locator("#w").evaluate("e => typeof e.tokenProvider === 'function'")
