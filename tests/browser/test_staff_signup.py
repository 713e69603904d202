"""Sign-up, the mailed confirmation link and a team invitation, in Debian's Chromium against
gunicorn, with every mail read from a real SMTP server (issue 20 finding 1)."""
from __future__ import annotations

import pytest
from aiosmtpd.controller import Controller

from webapp.extensions import db
from webapp.models import Member, Membership
from webapp.services.workspace import tenants

from ..chromium import one_page
from ..conftest import PASSWORD
from ..helpers import log_in, post_form
from ..mailbox import Inbox
from ..servers import Server, free_port, migrated_app

pytestmark = pytest.mark.browser

SECRET_KEY = "staff-browser-secret"
NEWCOMER = "newcomer@example.com"


@pytest.fixture
def site(tmp_path):
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    smtp_url = f"smtp://127.0.0.1:{port}"
    url, app = migrated_app(tmp_path, SECRET_KEY, "staff.sqlite3", SIGNET_RATELIMIT=None, SIGNET_SMTP_URL=smtp_url)
    with app.app_context():
        tenants.create_tenant("Dash Co", "owner@example.com", PASSWORD)
        db.session.remove()
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY, "SIGNET_SMTP_URL": smtp_url})
    yield server, app, inbox
    server.stop()
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    controller.stop()


def test_sign_up_confirm_by_mail_then_accept_an_invitation(site):
    server, app, inbox = site
    with one_page() as page:
        page.goto(server.url + "/signup")
        page.get_by_label("Workspace name").fill("Newco")
        page.get_by_label("Email").fill(NEWCOMER)
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Create workspace").click()
        page.get_by_role("heading", name="Check your email").wait_for()
        # Not usable yet: the dashboard sends the account back to the check-email page.
        log_in(page, server.url, NEWCOMER, PASSWORD)
        page.goto(server.url + "/settings/team")
        assert page.url == server.url + "/account/verify"
        # The link in the mail confirms the address and signs in.
        page.goto(server.url + inbox.link(NEWCOMER, "/account/verify/"))
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Confirm my email").click()
        page.get_by_text("Your email is confirmed").wait_for()
        assert page.url == server.url + "/settings/install"  # the next step: Install
        # An owner of another workspace invites the address; the invitation grants nothing yet.
        owner = app.test_client()
        post_form(owner, "/login", {"email": "owner@example.com", "password": PASSWORD})
        assert post_form(owner, "/settings/team", {"email": NEWCOMER, "role": "agent"}).status_code == 302
        with app.app_context():
            assert db.session.query(Membership).join(Member).filter(Member.email == NEWCOMER).count() == 1
        page.goto(server.url + inbox.link(NEWCOMER, "/invitations/"))
        page.get_by_text("Dash Co").first.wait_for()
        page.get_by_role("button", name="Accept the invitation").click()
        page.get_by_text("You joined Dash Co as agent").wait_for()
        with app.app_context():
            roles = db.session.query(Membership.role).join(Member).filter(Member.email == NEWCOMER).all()
            assert sorted(r for r, in roles) == ["agent", "owner"]
        assert page.problems == []
