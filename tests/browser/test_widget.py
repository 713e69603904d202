"""The widget in Debian's Chromium, on a customer page served from another origin than Signet."""
import json
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from axe_playwright_python.sync_playwright import Axe
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Conversation, EndUser

from ..conftest import PASSWORD

pytestmark = pytest.mark.browser
ROOT = Path(__file__).resolve().parents[2]


def html(body: str, head: str = "") -> str:
    return f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>Shop</title>{head}</head><body>{body}</body></html>"


def wait_user(page, predicate="signet.user", timeout=15000):
    page.wait_for_function(f"window.signet && window.signet.__signet && ({predicate})", timeout=timeout)
    return page.evaluate("signet.user")


def open_messenger(page):
    page.locator("signet-messenger #launch").click()
    page.locator("signet-messenger #panel").wait_for(state="visible")


def send(page, text):
    if page.locator("signet-messenger #new").is_visible():
        page.locator("signet-messenger #new").click()
    box = page.locator("signet-messenger #msg")
    box.click()
    box.fill(text)
    box.press("Enter")


def serious(results) -> list:
    return [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def test_queued_jwt_identifies_a_verified_user(signet, site, page):
    tenant = signet.tenant([site.origin])
    token = tenant.token("alice", organizations=[{"id": "acme", "name": "Acme"}])
    url = site.page(html(f"<script>signet.setUser({{jwt: {json.dumps(token)}}});</script>", tenant.snippet()))
    page.goto(url)
    user = wait_user(page, "signet.user && signet.user.id === 'alice'")
    assert user["verified"] is True and user["organizations"][0]["id"] == "acme"
    with signet.app.app_context():
        row = db.session.scalar(select(EndUser).where(EndUser.tenant_id == tenant.id, EndUser.external_id == "alice"))
        assert row.verified and row.verified_via == "token" and row.verified_kid == tenant.kid
    assert page.problems == []


def test_message_sent_and_staff_reply_appear(signet, site, page):
    tenant = signet.tenant([site.origin])
    page.goto(site.page(html(f"<script>signet.setUser({{jwt: {json.dumps(tenant.token('bob'))}}});</script>",
                             tenant.snippet())))
    wait_user(page)
    open_messenger(page)
    send(page, "My invoice is wrong")
    page.locator("signet-messenger #msgs li", has_text="My invoice is wrong").wait_for()
    with signet.app.app_context():
        conversation = db.session.scalar(select(Conversation).where(Conversation.tenant_id == tenant.id)).public_id
        db.session.remove()
    # The support agent answers from the dashboard's inbox, in another browser profile.
    staff = page.context.browser.new_context().new_page()
    staff.goto(f"{signet.url}/login")
    staff.get_by_label("Email").fill(tenant.owner)
    staff.get_by_label("Password").fill(PASSWORD)
    staff.get_by_role("button", name="Log in").click()
    staff.goto(f"{signet.url}/inbox/{conversation}")
    assert "My invoice is wrong" in staff.content()
    staff.get_by_label("Reply").fill("Fixed it, sorry about that!")
    staff.get_by_role("button", name="Send reply").click()
    staff.context.close()
    page.locator("signet-messenger #msgs li", has_text="Fixed it, sorry about that!").wait_for(timeout=20000)
    assert page.problems == []


def test_anonymous_cookie_survives_reload_and_logout_clears_it(signet, site, page):
    tenant = signet.tenant([site.origin])
    sessions = []
    page.on("response", lambda r: sessions.append(r.json()["session"]) if r.url.endswith("/set-user") and r.ok else None)
    url = site.page(html("<p>Welcome</p>", tenant.snippet()))
    page.goto(url)
    assert wait_user(page)["anonymous"] is True
    cookie_name = f"signet_vid_{tenant.public_id}"
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies[cookie_name]["domain"] == "localhost" and cookies[cookie_name]["sameSite"] == "Lax"
    first = cookies[cookie_name]["value"]
    page.reload()
    wait_user(page)
    assert {c["name"]: c["value"] for c in page.context.cookies()}[cookie_name] == first
    session = sessions[-1]
    page.evaluate("signet.logout()")
    page.wait_for_function("signet.user === null")
    assert cookie_name not in {c["name"] for c in page.context.cookies()}
    request = urllib.request.Request(f"{signet.url}/api/v1/widget/{tenant.public_id}/conversations",
                                     headers={"Authorization": f"Bearer {session}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 401
    assert page.problems == []


def test_switching_users_shows_none_of_the_previous_users_conversations(signet, site, page):
    tenant = signet.tenant([site.origin])
    tokens = {name: tenant.token(name) for name in ("carol", "dave")}
    page.goto(site.page(html(f"<script>var tokens = {json.dumps(tokens)};</script>", tenant.snippet())))
    page.wait_for_function("window.signet && window.signet.__signet")
    page.evaluate("signet.setUser({jwt: tokens.carol})")
    wait_user(page, "signet.user && signet.user.id === 'carol'")
    open_messenger(page)
    send(page, "Carol's private question")
    page.locator("signet-messenger #msgs li", has_text="Carol's private question").wait_for()
    page.evaluate("signet.setUser({jwt: tokens.dave})")
    wait_user(page, "signet.user && signet.user.id === 'dave'")
    page.wait_for_timeout(500)
    assert "Carol's private question" not in page.locator("signet-messenger").evaluate("e => e.shadowRoot.textContent")
    page.reload()
    page.wait_for_function("window.signet && window.signet.__signet")
    page.evaluate("signet.setUser({jwt: tokens.dave})")
    wait_user(page, "signet.user && signet.user.id === 'dave'")
    open_messenger(page)
    page.wait_for_timeout(500)
    assert "Carol's private question" not in page.locator("signet-messenger").evaluate("e => e.shadowRoot.textContent")
    assert page.problems == []


def test_signet_widget_element_identifies_and_refuses_a_mismatched_user_id(signet, site, page):
    tenant = signet.tenant([site.origin])
    token = tenant.token("erin")
    body = (f'<signet-widget id="ok" token="{token}" user-id="erin" connection-id="billing"></signet-widget>'
            f'<signet-widget id="bad" token="{token}" user-id="mallory"></signet-widget>'
            "<script>window.events = [];"
            "['ok','bad'].forEach(function (id) { ['identified','error'].forEach(function (type) {"
            "document.getElementById(id).addEventListener(type, function (e) { events.push([id, type, e.detail && (e.detail.code || e.detail.id)]); });"
            "}); });</script>")
    page.goto(site.page(html(body, tenant.snippet('data-launcher="false"'))))
    page.wait_for_function("window.events.length >= 2")
    events = page.evaluate("events")
    assert ["ok", "identified", "erin"] in events
    assert ["bad", "error", "user_id_mismatch"] in events
    assert "user_id_mismatch" not in page.locator("#ok").evaluate("e => e.shadowRoot.textContent")
    expected = [p for p in page.problems if "401" not in p]  # the refused element's session is revoked
    assert expected == []


def test_external_auth_code_attribute_identifies(signet, site, page):
    tenant = signet.tenant([site.origin], login_links_enabled=True)
    code = tenant.token("frank", user={"id": "frank", "name": "Frank"})
    page.goto(site.page(html("", tenant.snippet(f'data-external-auth-code="{code}"'))))
    user = wait_user(page, "signet.user && signet.user.id === 'frank'")
    assert user["verified"] is True
    assert page.problems == []


HOSTILE_CSS = ("<style>* { color: #ff00ff !important; font-family: monospace !important; "
               "background: yellow !important; padding: 30px !important; } button { border: 9px solid red !important; }"
               "signet-messenger { display: block; }</style>")


def test_host_page_css_does_not_change_the_widget(signet, site, page):
    tenant = signet.tenant([site.origin])
    probe = ("e => { var b = e.shadowRoot.getElementById('launch'); var s = getComputedStyle(b);"
             " return [s.color, s.fontFamily, s.backgroundColor, s.padding, s.borderTopWidth, b.getBoundingClientRect().width]; }")
    page.goto(site.page(html("<p>plain</p>", tenant.snippet())))
    wait_user(page)
    plain = page.locator("signet-messenger").evaluate(probe)
    page.goto(site.page(html("<p>hostile</p>", HOSTILE_CSS + tenant.snippet())))
    wait_user(page)
    assert page.locator("signet-messenger").evaluate(probe) == plain
    # And the widget's CSS does not leak out: the host's paragraph keeps the host's colour.
    assert page.get_by_text("hostile").evaluate("e => getComputedStyle(e).color") == "rgb(255, 0, 255)"


def test_widget_size_budget_and_bundle_match_sources():
    size = subprocess.run([sys.executable, "bench/widget_size.py"], cwd=ROOT, capture_output=True, text=True)
    assert size.returncode == 0, size.stdout + size.stderr
    built = subprocess.run([sys.executable, "static/widget/build.py", "--check"], cwd=ROOT, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout + built.stderr


def test_axe_on_the_open_messenger_and_the_inline_widget(signet, site, page):
    tenant = signet.tenant([site.origin])
    page.goto(site.page(html(f"<main><h1>Shop</h1><signet-widget token='{tenant.token('gina')}'></signet-widget></main>"
                             f"<script>signet.setUser({{jwt: {json.dumps(tenant.token('gina'))}}});</script>",
                             tenant.snippet())))
    wait_user(page)
    open_messenger(page)
    send(page, "Accessibility check")
    page.locator("signet-messenger #msgs li", has_text="Accessibility check").wait_for()
    assert serious(Axe().run(page)) == []


def test_axe_on_the_install_page(signet, page):
    tenant = signet.tenant([])
    page.goto(f"{signet.url}/login")
    page.get_by_label("Email").fill(tenant.owner)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{signet.url}/settings/install")
    assert tenant.public_id in page.locator("#snippet").text_content()
    assert serious(Axe().run(page)) == []
    assert page.problems == []
