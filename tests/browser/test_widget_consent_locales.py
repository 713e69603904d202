"""Issue 16 in Chromium: consent before storage, the visitor's language, a clean switch between
two users in one tab, and a workspace that does not chat with anonymous visitors."""
import json
from pathlib import Path

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Conversation, Member
from webapp.services.messaging import conversations

from .test_widget import html, open_messenger, send, wait_user

pytestmark = pytest.mark.browser
LOCALES = Path(__file__).resolve().parents[2] / "static" / "widget" / "locales"
# The stub of API.md §2 with consent queued like the other calls.
CONSENT_STUB = ('<script>window.signet=window.signet||(function(q){function c(m){return function(a,b){return new '
                'Promise(function(s,f){q.push([m,a,b,s,f])})}}return{_q:q,setUser:c("setUser"),logout:c("logout"),'
                'consent:c("consent"),on:function(e,f){q.push(["on",e,f])}}})([]);</script>')


def recorded(page, signet) -> list:
    seen = []
    page.on("request", lambda r: seen.append(r.url) if r.url.startswith(signet.url) else None)
    return seen


def storage(page) -> str:
    return page.evaluate("JSON.stringify(Object.assign({}, localStorage)) + '|' + document.cookie")


@pytest.mark.parametrize("how", ["consent_call", "launcher_click"])
def test_consent_required_means_no_cookie_no_storage_and_no_request_before_consent(signet, site, page, how):
    tenant = signet.tenant([site.origin])
    seen = recorded(page, signet)
    page.goto(site.page(html("<p>Shop</p>", tenant.snippet('data-consent="required" data-locale="de"', stub=CONSENT_STUB))))
    page.wait_for_function("window.signet && window.signet.__signet")
    page.locator("signet-messenger #launch").wait_for()
    page.wait_for_timeout(1500)
    assert [u for u in seen if "/static/widget/signet.js" not in u] == []  # the script itself only
    assert page.context.cookies() == [] and storage(page) == "{}|"
    assert page.evaluate("signet.user") is None
    if how == "consent_call":
        page.evaluate("signet.consent(true)")
    else:
        open_messenger(page)
    user = wait_user(page)
    assert user["anonymous"] is True
    assert any("/set-user" in u for u in seen) and any(u.endswith("/locales/de.js") for u in seen)
    assert f"signet_vid_{tenant.public_id}" in {c["name"] for c in page.context.cookies()}
    page.evaluate("signet.consent(false)")
    assert page.context.cookies() == []


def test_consent_queued_in_the_stub_before_the_script_loads(signet, site, page):
    tenant = signet.tenant([site.origin])
    page.goto(site.page(html("<script>signet.consent(true);</script>",
                             tenant.snippet('data-consent="required"', stub=CONSENT_STUB))))
    assert wait_user(page)["anonymous"] is True


@pytest.mark.parametrize("lang", ["en", "de", "fr", "es", "pt", "ja"])
def test_every_locale_renders_with_no_missing_key(signet, site, page, lang):
    strings = json.loads((LOCALES / f"{lang}.json").read_text(encoding="utf-8"))
    warnings = []
    page.on("console", lambda m: warnings.append(m.text) if m.type == "warning" else None)
    tenant = signet.tenant([site.origin])
    page.goto(site.page(html("", tenant.snippet(f'data-locale="{lang}-XX"'))))
    wait_user(page)
    launcher = page.locator("signet-messenger #launch")
    page.wait_for_function(f"document.querySelector('signet-messenger').shadowRoot.getElementById('launch')"
                           f".getAttribute('aria-label') === {json.dumps(strings['open'])}")
    assert page.evaluate("signet.locale") == lang
    launcher.click()
    text = lambda id_: page.locator("signet-messenger").evaluate(f"(e) => e.shadowRoot.getElementById('{id_}').textContent")
    page.locator("signet-messenger #note", has_text=strings["empty"]).wait_for()
    assert text("t") == strings["title"] and text("new") == strings["newConv"]
    page.locator("signet-messenger #new").click()
    assert page.locator("signet-messenger #msg").get_attribute("placeholder") == strings["placeholder"]
    assert text("t") == strings["newConv"]
    send(page, "Hallo")
    item = page.locator("signet-messenger #msgs li", has_text="Hallo")
    item.wait_for()
    meta = item.locator(".meta").text_content()
    assert meta.startswith(strings["you"])
    # The time is written in the visitor's locale by Intl.
    stamp = item.locator("time").get_attribute("datetime")
    expected = page.evaluate("([iso, tag]) => new Date(iso).toLocaleTimeString(tag, {hour: 'numeric', minute: '2-digit'})",
                             [stamp, f"{lang}-XX"])
    assert meta.endswith(expected)
    page.locator("signet-messenger #back").click()
    assert page.locator("signet-messenger #back").get_attribute("aria-label") == strings["back"]
    assert [w for w in warnings if "missing_translation" in w or "locale_unavailable" in w] == []
    assert page.problems == []


def test_two_users_in_one_tab_the_second_sees_no_trace_of_the_first(signet, site, page):
    tenant = signet.tenant([site.origin])
    tokens = {name: tenant.token(name) for name in ("nina", "omar")}
    page.goto(site.page(html(
        f"<script>var tokens = {json.dumps(tokens)}; window.snapshots = [];"
        "signet.on('identified', function (u) { var r = document.querySelector('signet-messenger').shadowRoot;"
        " snapshots.push([u && u.id, r.textContent, r.getElementById('badge').hidden, r.getElementById('msg').value]); });"
        "signet.setUser({jwt: tokens.nina});</script>", tenant.snippet())))
    wait_user(page, "signet.user && signet.user.id === 'nina'")
    open_messenger(page)
    send(page, "Nina's private question")
    page.locator("signet-messenger #msgs li", has_text="Nina's private question").wait_for()
    page.locator("signet-messenger #close").click()
    with signet.app.app_context():
        cid = db.session.scalar(select(Conversation.public_id).where(Conversation.tenant_id == tenant.id))
        member = db.session.scalar(select(Member).where(Member.email == tenant.owner))
        conversations.staff_reply(tenant.id, member, cid, "Nina's private answer")
        db.session.remove()
    page.locator("signet-messenger #badge").wait_for(state="visible", timeout=60000)
    open_messenger(page)
    page.locator("signet-messenger #msgs li", has_text="Nina's private answer").wait_for()
    page.locator("signet-messenger #msg").fill("Nina's unsent draft")
    page.locator("signet-messenger #close").click()
    for switch in ("signet.setUser({jwt: tokens.omar})", "signet.logout().then(function () { return signet.setUser({id: null}); })"):
        if "logout" in switch:  # Omar leaves a draft of a new conversation behind
            open_messenger(page)
            page.locator("signet-messenger #new").click()
            page.locator("signet-messenger #msg").fill("Nina-like draft of Omar")
            page.locator("signet-messenger #close").click()
        page.evaluate("snapshots.length = 0")
        page.evaluate(switch)
        page.wait_for_function("snapshots.length > 0")
        page.wait_for_timeout(700)
        who, shadow_text, badge_hidden, draft = page.evaluate("snapshots[0]")
        assert who in ("omar", None)
        # At the moment the new identity is announced, and after its first polls.
        for text in (shadow_text, page.locator("signet-messenger").evaluate("e => e.shadowRoot.textContent")):
            assert "Nina" not in text
        assert badge_hidden is True and draft == ""
        assert page.locator("signet-messenger #msg").input_value() == ""
        assert page.locator("signet-messenger #badge").is_hidden()
        assert page.evaluate("localStorage.length") == 0 or "signet_seen" not in page.evaluate("Object.keys(localStorage).join()")
        if switch.startswith("signet.setUser({jwt"):
            # Nina's session is over: Omar's page cannot reach her conversation.
            assert page.evaluate("signet.user.id") == "omar"


def test_anonymous_visitors_not_allowed_shows_the_workspace_text_instead_of_a_chat(signet, site, page):
    tenant = signet.tenant([site.origin], anonymous_visitors=False, anonymous_text="Log in to Shop to chat with us.")
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "warning" else None)
    page.goto(site.page(html("", tenant.snippet())))
    page.wait_for_function("window.signet && window.signet.__signet")
    page.wait_for_function("document.querySelector('signet-messenger')")
    open_messenger(page)
    page.locator("signet-messenger #note", has_text="Log in to Shop to chat with us.").wait_for()
    assert page.locator("signet-messenger #new").is_hidden()
    assert page.evaluate("signet.user") is None
    assert any("anonymous_not_allowed" in e for e in errors)
    # Once the app signs the user in, the chat is there.
    page.evaluate(f"signet.setUser({{jwt: {json.dumps(tenant.token('pia'))}}})")
    wait_user(page, "signet.user && signet.user.id === 'pia'")
    page.locator("signet-messenger #new").wait_for(state="visible")
