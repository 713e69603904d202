"""Staff accounts (API.md §9, issue 20 finding 1): an address is proven by a mailed link before an
account can act, team additions are invitations accepted by the address's owner while signed in
as it, and a password reset by mail ends every session. Driven over HTTP, mail read from a real
SMTP server."""
from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import Invitation, Member, Membership, StaffToken
from webapp.models._types import utcnow
from webapp.infra import background

from .conftest import PASSWORD
from .helpers import csrf_of, login, post_form

ATTACKER_PASSWORD = "attacker chose this one"
NEW_PASSWORD = "the real owner's new passphrase"


def signup(client, email: str, workspace: str = "Globex", password: str = PASSWORD, **kwargs):
    return post_form(client, "/signup", {"workspace": workspace, "email": email, "password": password}, **kwargs)


def invite(client, email: str, role: str = "admin"):
    return post_form(client, "/settings/team", {"email": email, "role": role})


def member_row(app, email: str) -> Member | None:
    with app.app_context():
        row = db.session.scalar(select(Member).where(Member.email == email))
        if row is not None:
            db.session.expunge(row)
        return row


def roles_of(app, email: str) -> list[tuple[int, str]]:
    with app.app_context():
        return [tuple(r) for r in db.session.execute(
            select(Membership.tenant_id, Membership.role).join(Member).where(Member.email == email)).all()]


def confirm(client, path: str, password: str = PASSWORD):
    """Open a mailed sign-up link (GET reads only), enter the sign-up password, press Confirm."""
    page = client.get(path)
    assert page.status_code == 200, page.get_data(as_text=True)
    return client.post(path, data={"password": password, "csrf_token": csrf_of(page.get_data(as_text=True))})


def accept(client, path: str):
    """Open an invitation (GET reads only; the mailed link or /invitations/pending) and press Accept."""
    page = client.get(path)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and ">Accept the invitation<" in html
    action = re.search(r'<form method="post" action="(/invitations/[A-Za-z0-9_-]+/accept)"', html).group(1)
    return client.post(action, data={"csrf_token": csrf_of(html)})


def reset_password(client, inbox, email: str, password: str, count: int = 1):
    assert post_form(client, "/password/forgot", {"email": email}).status_code == 200
    path = inbox.link(email, "/password/reset/", count)
    page = client.get(path)
    assert page.status_code == 200 and page.headers["Referrer-Policy"] == "no-referrer"
    return path, client.post(path, data={"password": password, "csrf_token": csrf_of(page.get_data(as_text=True))})


def unverified_client(app, smtp, email: str = "pending@example.com"):
    client = app.test_client()
    assert signup(client, email).status_code == 200
    smtp.to(email)
    assert login(client, email, PASSWORD).status_code == 302
    return client


# --- The attack of the issue -----------------------------------------------------------------

def test_a_pre_registered_address_gains_nothing_and_its_owner_takes_it_back(app, smtp, owner_client):
    victim = "cto@victim.example"
    attacker = app.test_client()
    # 1. The attacker signs up with the victim's address and logs in with the password they chose.
    assert signup(attacker, victim, "Evil").status_code == 200
    smtp.to(victim)  # the verification link goes to the real mailbox, not to the attacker
    assert login(attacker, victim, ATTACKER_PASSWORD).status_code == 401
    assert login(attacker, victim, PASSWORD).status_code == 302
    assert attacker.get("/inbox").headers["Location"] == "/account/verify"
    # 2. The victim's workspace adds that address: an invitation, which grants nothing.
    assert invite(owner_client, victim, "admin").status_code == 302
    invitation = smtp.link(victim, "/invitations/")
    assert [role for _, role in roles_of(app, victim)] == ["owner"]  # of the attacker's own "Evil" only
    assert owner_client.tenant.id not in [tenant for tenant, _ in roles_of(app, victim)]
    for path in ("/inbox", "/settings/keys", "/settings/team", "/users"):
        assert attacker.get(path).headers["Location"] == "/account/verify", path
    # Without the mailed token the attacker cannot accept, whatever they guess.
    token = csrf_of(attacker.get("/account/verify").get_data(as_text=True))
    assert attacker.post("/invitations/" + "A" * 43 + "/accept", data={"csrf_token": token}).status_code == 400
    assert owner_client.tenant.id not in [tenant for tenant, _ in roles_of(app, victim)]
    # 3. The real owner of the mailbox resets the password: the attacker's session ends with it.
    victim_browser = app.test_client()
    _, done = reset_password(victim_browser, smtp, victim, NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert attacker.get("/account/verify").headers["Location"] == "/login"
    assert login(app.test_client(), victim, PASSWORD).status_code == 401  # the attacker's password is gone
    assert member_row(app, victim).is_verified  # the reset proved the address
    # 4. Signed in as the address, with the mailed token, the owner joins.
    assert login(victim_browser, victim, NEW_PASSWORD).status_code == 302
    assert accept(victim_browser, invitation).status_code == 302
    assert (owner_client.tenant.id, "admin") in roles_of(app, victim)
    assert victim_browser.get("/settings/team").status_code == 200


# --- Sign-up ---------------------------------------------------------------------------------

def test_signup_mails_a_link_that_verifies_once_and_signs_in(app, smtp):
    client = app.test_client()
    response = signup(client, "new@example.com")
    assert response.status_code == 200 and "Check your email" in response.get_data(as_text=True)
    path = smtp.link("new@example.com", "/account/verify/")
    with app.app_context():  # only a hash of the token is stored
        stored = db.session.scalars(select(StaffToken.token_hash)).all()
        assert path.rsplit("/", 1)[1] not in stored and len(stored) == 1 and len(stored[0]) == 64
    assert not member_row(app, "new@example.com").is_verified
    assert confirm(client, path).status_code == 302
    assert member_row(app, "new@example.com").is_verified
    assert client.get("/inbox").status_code == 200
    # The link works once.
    again = app.test_client().get(path)
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)


def test_signup_for_an_existing_address_mails_a_notice_and_answers_the_same(app, smtp, factory):
    owner = factory.tenant().owner
    known = signup(app.test_client(), owner, "Copy")
    unknown = signup(app.test_client(), "unknown@example.com", "Copy")
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True).replace(owner, "@") == unknown.get_data(as_text=True).replace("unknown@example.com", "@")
    notice = smtp.body(smtp.to(owner)[-1])
    assert "already has an account" in notice and "/password/forgot" in notice and "/account/verify/" not in notice
    assert background.wait_idle()
    assert len(roles_of(app, owner)) == 1  # nothing was created for the known address
    assert roles_of(app, "unknown@example.com")


def test_signup_is_throttled_per_email_and_per_address(app, smtp):
    for i in range(3):
        assert signup(app.test_client(), "same@example.com", environ_base={"REMOTE_ADDR": f"198.51.100.{i}"}).status_code == 200
    blocked = signup(app.test_client(), "same@example.com", environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    for i in range(10):
        assert signup(app.test_client(), f"n{i}@example.com", environ_base={"REMOTE_ADDR": "203.0.113.5"}).status_code == 200
    blocked = signup(app.test_client(), "another@example.com", environ_base={"REMOTE_ADDR": "203.0.113.5"})
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert background.wait_idle()
    assert member_row(app, "another@example.com") is None


def dashboard_paths(app) -> list[tuple[str, str]]:
    """Every route of the dashboard, and the auth routes that act, with a made-up id."""
    paths = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("dashboard.") or rule.endpoint in ("auth.switch", "auth.no_workspace"):
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<id:{arg}>", "1").replace(f"<{arg}>", "x").replace(f"<path:{arg}>", "x")
            for method in sorted(rule.methods & {"GET", "POST"}):
                paths.append((method, path))
    return paths


def test_an_unverified_account_is_refused_everywhere_but_the_check_email_page(app, smtp):
    client = unverified_client(app, smtp)
    token = csrf_of(client.get("/account/verify").get_data(as_text=True))
    paths = dashboard_paths(app)
    assert len(paths) > 20 and ("POST", "/settings/team") in paths
    for method, path in paths + [("GET", "/settings/anything")]:
        response = client.open(path, method=method, data={"csrf_token": token} if method == "POST" else None)
        assert response.status_code == 302 and response.headers["Location"] == "/account/verify", (method, path)
    page = client.get("/account/verify").get_data(as_text=True)
    assert "pending@example.com" in page and "Send a new link" in page


def test_asking_for_the_link_again_is_throttled(app, smtp):
    client = unverified_client(app, smtp)
    for count in (2, 3, 4):
        assert post_form(client, "/account/verify/resend", page="/account/verify").status_code == 302
        smtp.to("pending@example.com", count)
    blocked = post_form(client, "/account/verify/resend", page="/account/verify")
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    # Any of the links mailed verifies the address.
    assert confirm(app.test_client(), smtp.link("pending@example.com", "/account/verify/", 2)).status_code == 302
    assert member_row(app, "pending@example.com").is_verified


def test_an_expired_verification_link_is_refused(app, smtp):
    signup(app.test_client(), "late@example.com")
    path = smtp.link("late@example.com", "/account/verify/")
    with app.app_context():
        db.session.execute(update(StaffToken).values(expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    client = app.test_client()
    assert client.get(path).status_code == 410
    token = csrf_of(client.get("/login").get_data(as_text=True))
    assert client.post(path, data={"csrf_token": token}).status_code == 410
    assert not member_row(app, "late@example.com").is_verified


@pytest.mark.parametrize("token", ["short", "A" * 43, "x" * 200, "%0d%0a"])
def test_unknown_links_are_refused_not_500(client, token):
    for prefix in ("/account/verify/", "/password/reset/", "/invitations/"):
        assert client.get(prefix + token).status_code in (400, 404), prefix


# --- Password reset --------------------------------------------------------------------------

def test_password_reset_ends_every_session_and_works_once(app, smtp, factory):
    owner = factory.tenant().owner
    sessions = [app.test_client(), app.test_client()]
    for browser in sessions:
        assert login(browser, owner, PASSWORD).status_code == 302
    stranger = app.test_client()
    path, done = reset_password(stranger, smtp, owner, NEW_PASSWORD)
    assert done.status_code == 302
    for browser in sessions:
        assert browser.get("/inbox").status_code == 302  # logged out
    assert login(app.test_client(), owner, PASSWORD).status_code == 401
    assert login(app.test_client(), owner, NEW_PASSWORD).status_code == 302
    assert stranger.get(path).status_code == 410  # used up


def test_a_weak_new_password_leaves_the_link_usable(app, smtp, factory):
    owner = factory.tenant().owner
    client = app.test_client()
    post_form(client, "/password/forgot", {"email": owner})
    path = smtp.link(owner, "/password/reset/")
    page = client.get(path).get_data(as_text=True)
    weak = client.post(path, data={"password": "short", "csrf_token": csrf_of(page)})
    assert weak.status_code == 400 and "too weak" in weak.get_data(as_text=True)
    assert client.post(path, data={"password": NEW_PASSWORD, "csrf_token": csrf_of(page)}).status_code == 302


def test_an_expired_reset_link_is_refused(app, smtp, factory):
    owner = factory.tenant().owner
    client = app.test_client()
    post_form(client, "/password/forgot", {"email": owner})
    path = smtp.link(owner, "/password/reset/")
    with app.app_context():
        db.session.execute(update(StaffToken).values(expires_at=utcnow() - timedelta(minutes=1)))
        db.session.commit()
    token = csrf_of(client.get("/login").get_data(as_text=True))
    assert client.post(path, data={"password": NEW_PASSWORD, "csrf_token": token}).status_code == 410
    assert login(app.test_client(), owner, PASSWORD).status_code == 302


def test_forgot_password_answers_the_same_for_known_and_unknown_and_is_throttled(app, smtp, factory):
    owner = factory.tenant().owner
    known = post_form(app.test_client(), "/password/forgot", {"email": owner})
    unknown = post_form(app.test_client(), "/password/forgot", {"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 200
    assert known.get_data(as_text=True).replace(owner, "@") == unknown.get_data(as_text=True).replace("nobody@example.com", "@")
    assert "/password/reset/" in smtp.body(smtp.to(owner)[-1])
    assert "/password/reset/" not in smtp.body(smtp.to("nobody@example.com")[-1])
    for _ in range(2):
        assert post_form(app.test_client(), "/password/forgot", {"email": owner}).status_code == 200
    blocked = post_form(app.test_client(), "/password/forgot", {"email": owner})
    assert blocked.status_code == 429 and "Retry-After" in blocked.headers
    assert 'href="/password/forgot"' in app.test_client().get("/login").get_data(as_text=True)


# --- Invitations -----------------------------------------------------------------------------

def test_an_invitation_needs_the_token_and_the_signed_in_address(app, smtp, owner_client, factory):
    other_tenant = factory.tenant("Other")
    invited = factory.member(other_tenant, "agent", "invited@example.com")  # verified, elsewhere
    wrong = factory.member(other_tenant, "agent", "wrong@example.com")
    assert invite(owner_client, invited, "admin").status_code == 302
    path = smtp.link(invited, "/invitations/")
    with app.app_context():
        assert db.session.scalar(select(Invitation.token_hash)) != path.rsplit("/", 1)[1]
    # Signed in as another address: refused.
    someone = app.test_client()
    login(someone, wrong, PASSWORD)
    page = someone.get(path).get_data(as_text=True)
    assert "logged in as" in page and "Accept" not in page
    assert someone.post(path + "/accept", data={"csrf_token": csrf_of(page)}).status_code == 403
    # Not signed in: sent to log in, coming back to the invitation (its token kept in the
    # session, never in the login URL).
    browser = app.test_client()
    token = csrf_of(browser.get(path).get_data(as_text=True))
    assert browser.post(path + "/accept", data={"csrf_token": token}).headers["Location"] == "/login?next=/invitations/pending"
    assert (owner_client.tenant.id, "admin") not in roles_of(app, invited)
    # The right address, with the token: joined; the token is used up.
    html = browser.get("/login?next=/invitations/pending").get_data(as_text=True)
    response = browser.post("/login", data={"email": invited, "password": PASSWORD, "next": "/invitations/pending",
                                            "csrf_token": csrf_of(html)})
    assert response.headers["Location"] == "/invitations/pending"
    assert accept(browser, "/invitations/pending").status_code == 302
    assert (owner_client.tenant.id, "admin") in roles_of(app, invited)
    assert browser.get(path).status_code == 410
    assert "invited@example.com" not in _pending_emails(owner_client)


def _pending_emails(client) -> str:
    html = client.get("/settings/team").get_data(as_text=True)
    return html.split("Pending invitations", 1)[1].split("Invite a member", 1)[0]


def test_an_invitation_can_create_the_account_and_proves_the_address(app, smtp, owner_client):
    assert invite(owner_client, "fresh@example.com", "agent").status_code == 302
    path = smtp.link("fresh@example.com", "/invitations/")
    assert "fresh@example.com" in _pending_emails(owner_client)
    client = app.test_client()
    page = client.get(path).get_data(as_text=True)
    response = client.post(path + "/signup", data={"password": PASSWORD, "csrf_token": csrf_of(page)})
    assert response.status_code == 302
    assert member_row(app, "fresh@example.com").is_verified
    assert roles_of(app, "fresh@example.com") == [(owner_client.tenant.id, "agent")]
    assert client.get("/inbox").status_code == 200
    # The link was used: it creates nothing a second time.
    again = app.test_client()
    assert again.post(path + "/signup", data={"password": PASSWORD, "csrf_token": csrf_of(again.get("/login").get_data(as_text=True))}).status_code == 410


def test_an_invitation_for_a_pre_registered_address_cannot_take_the_account(app, smtp, owner_client):
    """Creating the account from the link refuses an address that has one: its owner resets."""
    signup(app.test_client(), "taken@example.com", password=ATTACKER_PASSWORD)
    smtp.to("taken@example.com")
    invite(owner_client, "taken@example.com", "agent")
    path = smtp.link("taken@example.com", "/invitations/")
    client = app.test_client()
    page = client.get(path).get_data(as_text=True)
    response = client.post(path + "/signup", data={"password": PASSWORD, "csrf_token": csrf_of(page)})
    assert response.status_code == 400 and "reset its password" in response.get_data(as_text=True)
    assert owner_client.tenant.id not in [t for t, _ in roles_of(app, "taken@example.com")]


def test_expired_revoked_and_stale_invitations_grant_nothing(app, smtp, owner_client, factory):
    for email in ("late@example.com", "revoked@example.com"):
        invite(owner_client, email, "agent")
    late, revoked = smtp.link("late@example.com", "/invitations/"), smtp.link("revoked@example.com", "/invitations/")
    with app.app_context():
        db.session.execute(update(Invitation).where(Invitation.email == "late@example.com")
                           .values(expires_at=utcnow() - timedelta(seconds=1)))
        invitation_id = db.session.scalar(select(Invitation.id).where(Invitation.email == "revoked@example.com"))
        db.session.commit()
    assert "late@example.com" not in _pending_emails(owner_client)
    assert post_form(owner_client, f"/settings/team/invitations/{invitation_id}/revoke", page="/settings/team").status_code == 302
    assert "revoked@example.com" not in _pending_emails(owner_client)
    for path, status in ((late, 410), (revoked, 400)):
        client = app.test_client()
        token = csrf_of(client.get("/login").get_data(as_text=True))
        assert client.get(path).status_code == status
        assert client.post(path + "/signup", data={"password": PASSWORD, "csrf_token": token}).status_code == status
    assert member_row(app, "late@example.com") is None and member_row(app, "revoked@example.com") is None


def test_an_invitation_is_only_as_good_as_its_inviter(app, smtp, as_role):
    admin = as_role("admin")
    assert invite(admin, "via-admin@example.com", "agent").status_code == 302
    path = smtp.link("via-admin@example.com", "/invitations/")
    with app.app_context():  # the admin is removed from the workspace before the invitee accepts
        db.session.execute(Membership.__table__.delete().where(Membership.role == "admin"))
        db.session.commit()
    client = app.test_client()
    page = client.get(path).get_data(as_text=True)
    assert client.post(path + "/signup", data={"password": PASSWORD, "csrf_token": csrf_of(page)}).status_code == 410
    assert member_row(app, "via-admin@example.com") is None


def test_only_owners_invite_or_revoke_owners(app, smtp, as_role):
    admin = as_role("admin")
    response = invite(admin, "boss@example.com", "owner")
    assert response.status_code == 400 and "Only an owner" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(Invitation)) is None
        owner_email = db.session.scalar(select(Member.email).join(Membership).where(Membership.role == "owner"))
    owner = app.test_client()
    login(owner, owner_email, PASSWORD)
    assert invite(owner, "boss@example.com", "owner").status_code == 302
    with app.app_context():
        invitation_id = db.session.scalar(select(Invitation.id))
    post_form(admin, f"/settings/team/invitations/{invitation_id}/revoke", page="/settings/team")
    assert "boss@example.com" in _pending_emails(owner)
    assert "Only an owner" in admin.get("/settings/team").get_data(as_text=True)


def test_agents_cannot_invite_or_revoke(app, smtp, as_role):
    agent = as_role("agent")
    token = csrf_of(agent.get("/inbox").get_data(as_text=True))
    assert agent.post("/settings/team", data={"csrf_token": token, "email": "x@example.com", "role": "agent"}).status_code == 403
    assert agent.post("/settings/team/invitations/1/revoke", data={"csrf_token": token}).status_code == 403
    with app.app_context():
        assert db.session.scalar(select(Invitation)) is None


@pytest.mark.parametrize("path", ["/account/verify/resend", "/password/forgot", "/settings/team/invitations/1/revoke"])
def test_new_forms_refuse_a_missing_csrf_token(owner_client, path):
    assert owner_client.post(path, data={"email": "x@example.com"}).status_code in (400, 403)


# --- The operator's CLI ----------------------------------------------------------------------

def test_cli_member_add_creates_a_verified_member_and_refuses_an_unproven_account(app, smtp):
    runner = app.test_cli_runner()
    tenant = json.loads(runner.invoke(args=["signet", "tenant", "create", "--name", "Ops", "--owner-email",
                                            "ops@example.com", "--owner-password", PASSWORD]).stdout)["tenant_id"]
    assert member_row(app, "ops@example.com").is_verified
    result = runner.invoke(args=["signet", "member", "add", tenant, "--email", "staff@example.com",
                                 "--password", PASSWORD, "--role", "agent"])
    assert result.exit_code == 0 and len(result.stdout.strip().splitlines()) == 1
    assert json.loads(result.stdout) == {"tenant_id": tenant, "email": "staff@example.com", "role": "agent"}
    assert member_row(app, "staff@example.com").is_verified
    client = app.test_client()
    assert login(client, "staff@example.com", PASSWORD).status_code == 302 and client.get("/inbox").status_code == 200
    # An account that signed up but never proved its address is not granted a role.
    signup(app.test_client(), "unproven@example.com", password=ATTACKER_PASSWORD)
    smtp.to("unproven@example.com")
    refused = runner.invoke(args=["signet", "member", "add", tenant, "--email", "unproven@example.com",
                                  "--password", PASSWORD, "--role", "admin"])
    assert refused.exit_code == 1 and "has not proven its address" in refused.stderr
    ops_id = roles_of(app, "ops@example.com")[0][0]
    assert ops_id not in [t for t, _ in roles_of(app, "unproven@example.com")]
    help_text = runner.invoke(args=["signet", "member", "add", "--help"]).stdout
    assert "trusted operator" in help_text and "verified" in help_text


# --- Migration 0005 ---------------------------------------------------------------------------

def test_migration_0005_grandfathers_existing_members_as_verified(tmp_path):
    from sqlalchemy import create_engine, text

    from .test_migrations import flask_db

    url = f"sqlite:///{tmp_path / 'grandfather.sqlite3'}"
    flask_db(url, "upgrade", "0004")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO member (email, password_hash, session_version, created_at) "
                          "VALUES ('old@example.com', 'x', 1, '2025-01-02 03:04:05.000000')"))
    flask_db(url, "upgrade", "0005")
    with engine.connect() as conn:
        verified = conn.execute(text("SELECT email_verified_at FROM member")).scalar()
        tables = {row[0] for row in conn.execute(text("SELECT name FROM sqlite_master WHERE type='table'"))}
    engine.dispose()
    assert verified is not None and str(verified).startswith("2025-01-02")
    assert {"staff_token", "invitation", "staff_throttle"} <= tables
