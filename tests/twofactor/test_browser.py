"""Two-factor in Debian's Chromium against gunicorn (issue 17): an authenticator app set up from
its QR page and used at login (codes from pyotp), a recovery code used once, a passkey registered
and used through Chromium's virtual authenticator (DevTools WebAuthn domain), and a workspace
that requires two-factor sending a member to set it up first."""
from __future__ import annotations

import time

import pyotp
import pytest

from webapp.extensions import db
from webapp.services.workspace import members, tenants

from ..chromium import browser, page, watched_page  # noqa: F401  (the browser and page fixtures)
from ..conftest import PASSWORD
from ..helpers import log_in
from ..servers import Server, migrated_app

pytestmark = pytest.mark.browser

SECRET_KEY = "twofactor-browser-secret"
OWNER, AGENT = "owner@example.com", "agent@example.com"


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    url, app = migrated_app(tmp_path_factory.mktemp("twofactor"), SECRET_KEY, "twofactor.sqlite3", SIGNET_RATELIMIT=None)
    with app.app_context():
        tenant = tenants.create_tenant("Dash Co", OWNER, PASSWORD)
        members.add_to_tenant(tenant, AGENT, PASSWORD, "agent")
        other = tenants.create_tenant("Strict Co", "require-owner@example.com", PASSWORD)  # its own workspace
        members.add_to_tenant(other, "require-agent@example.com", PASSWORD, "agent")
        db.session.remove()
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY})
    # localhost, not 127.0.0.1: a passkey's relying party must be a domain name.
    server.base = f"http://localhost:{server.port}"
    yield server
    server.stop()


def log_out(page):
    page.get_by_role("button", name="Log out").click()
    page.get_by_role("heading", name="Log in").wait_for()


def set_up_app(page, base: str) -> tuple[pyotp.TOTP, list[str]]:
    page.goto(base + "/account/security")
    page.get_by_role("button", name="Set up an authenticator app").click()
    assert page.locator(".qr svg").count() == 1  # the QR code, drawn on the server
    totp = pyotp.TOTP(page.locator("#totp-key").inner_text())
    page.get_by_label("Code from the app").fill(totp.now())
    page.get_by_role("button", name="Turn on").click()
    page.get_by_role("heading", name="Your recovery codes").wait_for()
    codes = page.locator("#recovery-codes code").all_inner_texts()
    page.get_by_role("link", name="I saved them").click()
    return totp, codes


def second_step(page, code: str):
    page.get_by_role("heading", name="Two-factor").wait_for()
    page.get_by_label("Code from your authenticator app, or a recovery code").fill(code)
    page.get_by_role("button", name="Verify").click()
    page.wait_for_load_state()


def test_authenticator_app_and_a_recovery_code_used_once(site, page):
    base = site.base
    log_in(page, base, OWNER, PASSWORD)
    totp, codes = set_up_app(page, base)
    assert len(codes) == 10
    page.get_by_text("On. Your authenticator app is asked for at every login.").wait_for()
    log_out(page)
    # The password alone no longer signs in: the second step asks for a code.
    log_in(page, base, OWNER, PASSWORD)
    assert page.url == base + "/login/two-factor"
    page.goto(base + "/inbox")
    assert page.url.startswith(base + "/login")
    log_in(page, base, OWNER, PASSWORD)
    second_step(page, totp.at(time.time() + 30))
    assert page.url == base + "/inbox" or page.url == base + "/"
    page.get_by_role("link", name="Inbox").wait_for()
    log_out(page)
    # A recovery code works once.
    log_in(page, base, OWNER, PASSWORD)
    second_step(page, codes[0])
    page.get_by_role("link", name="Inbox").wait_for()
    log_out(page)
    assert page.problems == []
    log_in(page, base, OWNER, PASSWORD)
    second_step(page, codes[0])
    page.get_by_text("That code is not right.").wait_for()
    assert page.url == base + "/login/two-factor"
    assert page.problems == ["console.error: Failed to load resource: the server responded with a status of 401 (UNAUTHORIZED)"]


def test_a_passkey_registered_and_used_with_the_virtual_authenticator(site, page):
    base = site.base
    cdp = page.context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": {
        "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
        "isUserVerified": True}})
    log_in(page, base, AGENT, PASSWORD)
    page.goto(base + "/account/security")
    page.get_by_label("Passkey name").fill("test laptop")
    page.get_by_role("button", name="Add a passkey").click()
    page.get_by_role("cell", name="test laptop").wait_for()
    log_out(page)
    log_in(page, base, AGENT, PASSWORD)
    assert page.url == base + "/login/two-factor"
    page.get_by_role("button", name="Use a passkey").click()
    page.get_by_role("link", name="Inbox").wait_for()
    assert not page.url.startswith(base + "/login")
    assert page.problems == []


def test_require_two_factor_sends_a_member_to_set_it_up_first(site, browser):
    base = site.base
    owner_context, member_context = browser.new_context(), browser.new_context()
    owner, member = watched_page(owner_context), watched_page(member_context)
    log_in(owner, base, "require-owner@example.com", PASSWORD)
    owner.goto(base + "/settings/team")
    owner.get_by_label("Require two-factor for every member").check()
    owner.get_by_role("button", name="Save").click()
    owner.get_by_text("Two-factor is now required").wait_for()
    # The owner has no factor either: sent to set it up.
    assert owner.url == base + "/account/security"
    log_in(member, base, "require-agent@example.com", PASSWORD)
    member.goto(base + "/users")
    assert member.url == base + "/account/security"
    member.get_by_text("requires two-factor").wait_for()
    set_up_app(member, base)
    member.goto(base + "/users")
    assert member.url == base + "/users"
    assert owner.problems == [] and member.problems == []
    owner_context.close()
    member_context.close()
