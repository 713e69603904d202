"""The hosted page in Debian's Chromium: a login link lands on the full-page messenger, the CSP lets
the widget render, a message goes through on the adopted session, and sign-out ends it."""
from __future__ import annotations

import time

import jwt
import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Conversation, EndUser
from webapp.services.keys import keyring
from webapp.services.workspace import tenants

from ..chromium import chromium, watched_page
from ..conftest import PASSWORD
from ..servers import Server, migrated_app

pytestmark = pytest.mark.browser
SECRET_KEY = "hosted-browser-secret-key"


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hosted-browser")
    url, app = migrated_app(tmp, SECRET_KEY, "hosted.sqlite3")
    with app.app_context():
        tenant = tenants.create_tenant("Shop", "owner-hosted@example.com", PASSWORD)
        tenants.update_settings(tenant, tenants.Settings(login_links_enabled=True))
        row, secret = keyring.create_secret(tenant)
        ids = (tenant.id, tenant.public_id, row.kid, secret)
        db.session.remove()
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY, "SIGNET_TEST_LOG_DIR": str(tmp)})
    yield app, server, *ids
    server.stop()


@pytest.fixture
def page():
    with chromium() as browser:
        yield watched_page(browser.new_context())


def test_login_link_to_messenger_to_sign_out(live, page):
    app, server, tenant_row, public_id, kid, secret = live
    code = jwt.encode({"user": {"id": "bob", "name": "Bob"}, "exp": int(time.time()) + 300, "jti": "browser-1"},
                      secret, algorithm="HS256", headers={"kid": kid})
    page.goto(f"{server.url}/m/{public_id}?externalAuthCode={code}")
    assert page.url == f"{server.url}/m/{public_id}"  # the 303 left the code behind
    page.get_by_text("Signed in as").wait_for()
    assert "Bob" in page.locator(".hosted-who").inner_text()
    assert "signet_m_" not in page.evaluate("document.cookie")  # HttpOnly
    page.wait_for_function("window.signet && signet.user && signet.user.id === 'bob'")

    page.locator("signet-messenger #panel").wait_for(state="visible")
    page.locator("signet-messenger #new").click()
    box = page.locator("signet-messenger #msg")
    box.fill("Hello from the hosted page")
    box.press("Enter")
    page.locator("signet-messenger #msgs li", has_text="Hello from the hosted page").wait_for()
    with app.app_context():
        user = db.session.scalar(select(EndUser).where(EndUser.tenant_id == tenant_row, EndUser.external_id == "bob"))
        assert db.session.scalar(select(Conversation).where(Conversation.user_id == user.id)) is not None
        db.session.remove()

    page.reload()
    page.get_by_text("Signed in as").wait_for()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_label("Email").wait_for()
    assert page.url == f"{server.url}/m/{public_id}"
    assert page.problems == []
