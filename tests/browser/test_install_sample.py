"""The snippet and step-2 sample exactly as the Install page shows them, pasted into a customer page on
another origin, with the token arriving before and after signet.js; the old stub's queue; a refused
first setUser in both timings; a refused origin shown in the dashboard and allowed in one click."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Conversation, EndUser
from webapp.services.workspace import members, tenants

from ..conftest import PASSWORD
from .conftest import OLD_STUB, STUB, CustomerSite
from .test_widget import html, open_messenger, send, wait_user

pytestmark = pytest.mark.browser
NOTICE = "We couldn't confirm your account. You can still write to us."


@pytest.fixture
def own_site():
    """A customer site of its own per test: its /signet-token is intercepted by the test."""
    customer = CustomerSite()
    yield customer
    customer.server.shutdown()


def staff_page(browser, signet, email):
    tab = browser.new_context().new_page()
    tab.goto(f"{signet.url}/login")
    tab.get_by_label("Email").fill(email)
    tab.get_by_label("Password").fill(PASSWORD)
    tab.get_by_role("button", name="Log in").click()
    tab.wait_for_url(lambda url: "/login" not in url)
    return tab


def install_sample(browser, signet, tenant) -> tuple[str, str]:
    """(snippet, step-2 sample) as the real Install page renders them for this tenant."""
    staff = staff_page(browser, signet, tenant.owner)
    staff.goto(f"{signet.url}/settings/install")
    snippet, sample = staff.locator("#snippet").text_content(), staff.locator("#example-html").text_content()
    staff.context.close()
    assert STUB in snippet and f'data-tenant="{tenant.public_id}"' in snippet and signet.url in snippet
    assert "signet.setUser({ jwt: data.token })" in sample and ".then(function (user)" in sample
    return snippet, sample


def console_lines(page) -> list[str]:
    lines = []
    page.on("console", lambda m: lines.append(f"{m.type}: {m.text}"))
    return lines


def run_sample(page, site, snippet, sample, token, token_first: bool) -> None:
    """Open the customer page; the token endpoint answers before signet.js loads, or after."""
    held = []
    if token_first:
        page.route("**/static/widget/signet.js", lambda route: held.append(route))
    else:
        page.route("**/signet-token", lambda route: held.append(route))
    answer = {"status": 200, "content_type": "application/json", "body": json.dumps({"token": token})}
    if token_first:
        page.route("**/signet-token", lambda route: route.fulfill(**answer))
    page.goto(site.page(html("<h1>Shop</h1>" + sample, snippet)), wait_until="domcontentloaded")
    if token_first:
        # The sample already called setUser on the stub, whose Promise waits in the queue.
        page.wait_for_function("window.signet._q.some(function (e) { return e[0] === 'setUser'; })")
        assert page.evaluate("window.signet.__signet") is None
        while not held:
            page.wait_for_timeout(50)
        held[0].continue_()
    else:
        page.wait_for_function("window.signet && window.signet.__signet === true")
        while not held:
            page.wait_for_timeout(50)
        held[0].fulfill(**answer)


@pytest.mark.parametrize("token_first", [True, False], ids=["token-before-loader", "token-after-loader"])
def test_the_install_pages_sample_resolves_with_the_verified_user(signet, browser, page, own_site, token_first):
    tenant = signet.tenant([own_site.origin])
    snippet, sample = install_sample(browser, signet, tenant)
    lines = console_lines(page)
    token = tenant.token("sam", organizations=[{"id": "acme", "name": "Acme"}])
    run_sample(page, own_site, snippet, sample, token, token_first)
    deadline = time.time() + 15
    while not any("Signet knows" in line for line in lines) and time.time() < deadline:
        page.wait_for_timeout(100)
    assert "log: Signet knows sam verified: true" in lines, lines
    assert page.evaluate("signet.user.id") == "sam" and page.evaluate("signet.user.verified") is True
    assert not [line for line in lines if "refused" in line]
    assert page.problems == []


@pytest.mark.parametrize("token_first", [True, False], ids=["token-before-loader", "token-after-loader"])
@pytest.mark.parametrize("bad, code", [
    ("expired", "token_expired"), ("forged", "token_bad_signature"),
], ids=["expired", "bad-signature"])
def test_the_install_pages_sample_rejects_a_bad_token_with_its_real_code(
        signet, browser, page, own_site, token_first, bad, code):
    tenant = signet.tenant([own_site.origin])
    snippet, sample = install_sample(browser, signet, tenant)
    lines = console_lines(page)
    if bad == "expired":
        token = tenant.token("sam", exp=int(time.time()) - 3600)
    else:
        token = tenant.token("sam")[:-6] + "AAAAAA"
    run_sample(page, own_site, snippet, sample, token, token_first)
    deadline = time.time() + 15
    while not any("Signet refused the user" in line for line in lines) and time.time() < deadline:
        page.wait_for_timeout(100)
    refused = [line for line in lines if "Signet refused the user" in line]
    assert refused and refused[0].startswith(f"warning: Signet refused the user: {code} "), lines
    assert not [p for p in page.problems if "401" not in p]


def test_the_old_stubs_queue_entries_still_replay(signet, site, page):
    tenant = signet.tenant([site.origin])
    answered = []
    page.on("response", lambda r: answered.append((r.request.method, r.url.rsplit("/", 1)[-1], r.status)))
    calls = (f"<script>var r = signet.setUser({{jwt: {json.dumps(tenant.token('olga'))}}}); window.returned = typeof r;"
             "signet.logout();</script>")
    page.goto(site.page(html("", tenant.snippet(stub=OLD_STUB) + calls)))
    page.wait_for_function("window.signet.__signet === true")
    assert page.evaluate("returned") == "undefined"  # the old stub returned nothing, and still works
    deadline = time.time() + 15
    while ("POST", "logout", 204) not in answered and time.time() < deadline:
        page.wait_for_timeout(100)
    # The queued setUser ran first (a verified user, whose session the queued logout revoked).
    assert [a for a in answered if a[0] == "POST"] == [("POST", "set-user", 200), ("POST", "logout", 204)]
    assert page.evaluate("signet.user") is None
    with signet.app.app_context():
        olga = db.session.scalar(select(EndUser).where(EndUser.tenant_id == tenant.id, EndUser.external_id == "olga"))
        assert olga is not None and olga.verified
        db.session.remove()
    # And with the old stub alone, setUser replays into a verified user.
    page.goto(site.page(html("", tenant.snippet(stub=OLD_STUB) +
                             f"<script>signet.setUser({{jwt: {json.dumps(tenant.token('olga'))}}});</script>")))
    assert wait_user(page, "signet.user && signet.user.id === 'olga'")["verified"] is True
    assert page.problems == []


def test_queued_listeners_are_registered_before_queued_calls(signet, site, page):
    tenant = signet.tenant([site.origin])
    script = ("<script>window.seen = []; window.settled = [];"
              f"signet.setUser({{jwt: {json.dumps(tenant.token('lena'))}}})"
              ".then(function (u) { settled.push(u.id); });"
              "signet.on('identified', function (u) { seen.push(u.id); });"
              "signet.on('ready', function () { seen.push('ready'); });</script>")
    page.goto(site.page(html("", tenant.snippet() + script)))
    page.wait_for_function("window.seen.indexOf('ready') >= 0 && window.settled.length === 1")
    assert page.evaluate("seen") == ["lena", "ready"] and page.evaluate("settled") == ["lena"]
    assert page.problems == []


@pytest.mark.parametrize("token_first", [True, False], ids=["refused-before-loader", "refused-after-loader"])
def test_a_refused_first_set_user_leaves_the_end_user_a_way_to_write(signet, site, page, token_first):
    tenant = signet.tenant([site.origin])
    token = json.dumps(tenant.token("tom", exp=int(time.time()) - 3600))
    lines = console_lines(page)
    listen = ("<script>window.errors = []; window.rejected = null;"
              "signet.on('error', function (e) { errors.push(e.code); });"
              "window.identify = function () { return signet.setUser({jwt: %s})"
              ".catch(function (e) { rejected = e.code; }); };%s</script>"
              ) % (token, "identify();" if token_first else "")
    # The calls come before the loader's tag, so on the fast path setUser is queued on the stub.
    page.goto(site.page(html("<h1>Shop</h1>", STUB + listen + tenant.snippet(stub=""))))
    if not token_first:
        wait_user(page, "signet.user && signet.user.anonymous")
        page.evaluate("identify()")
    page.wait_for_function("window.rejected !== null")
    assert page.evaluate("rejected") == "token_expired" and "token_expired" in page.evaluate("errors")
    assert any(line.startswith("warning: [signet] token_expired") for line in lines), lines
    assert wait_user(page, "signet.user && signet.user.anonymous")["anonymous"] is True
    open_messenger(page)
    banner = page.locator("signet-messenger #err")
    banner.wait_for(state="visible")
    assert banner.text_content() == NOTICE
    panel = page.locator("signet-messenger").evaluate("e => e.shadowRoot.textContent")
    assert "expired" not in panel and "token" not in panel.lower()
    send(page, "Hello, I cannot sign in")
    page.locator("signet-messenger #msgs li", has_text="Hello, I cannot sign in").wait_for()
    with signet.app.app_context():
        writer = db.session.scalar(select(EndUser).join(Conversation, Conversation.user_id == EndUser.id)
                                   .where(Conversation.tenant_id == tenant.id))
        assert writer.anonymous is True
        db.session.remove()
    assert not [p for p in page.problems if "401" not in p]


def test_a_refused_origin_is_shown_and_allowed_in_one_click(signet, browser, site, page):
    tenant = signet.tenant(["https://app.example.com"])
    lines = console_lines(page)
    url = site.page(html("<h1>Shop</h1>", tenant.snippet()))
    page.goto(url)
    page.wait_for_function("window.signet.__signet === true")
    deadline = time.time() + 15
    while not any("network_error" in line for line in lines) and time.time() < deadline:
        page.wait_for_timeout(100)
    warning = next(line for line in lines if "network_error" in line)
    assert site.origin in warning and "Settings \u2192 Install" in warning and "network" in warning
    # An agent sees neither the refusal nor the button: settings are for owners and admins.
    with signet.app.app_context():
        agent = f"agent-{tenant.public_id}@example.com"
        members.add_to_tenant(tenants.get_tenant(tenant.public_id), agent, PASSWORD, "agent")
        db.session.remove()
    staff = staff_page(browser, signet, agent)
    for path in ("/settings/debugger", "/settings/install"):
        assert staff.goto(f"{signet.url}{path}").status == 403
    staff.context.close()
    admin = staff_page(browser, signet, tenant.owner)
    admin.goto(f"{signet.url}/settings/debugger")
    origins = admin.locator("#origins")
    assert site.origin in origins.text_content()
    admin.goto(f"{signet.url}/settings/install")
    box = admin.locator("#live-origin")
    assert site.origin in box.text_content()
    box.get_by_role("button", name="Allow this origin").click()
    admin.wait_for_url(f"{signet.url}/settings/install")
    assert "No refused origin." in admin.locator("#live-origin").text_content()
    admin.context.close()
    page.goto(url)
    assert wait_user(page)["anonymous"] is True
    assert site.origin in tenants_allowed(signet, tenant)


def tenants_allowed(signet, tenant) -> list[str]:
    with signet.app.app_context():
        allowed = list(tenants.get_tenant(tenant.public_id).allowed_origins)
        db.session.remove()
    return allowed
