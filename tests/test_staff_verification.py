"""Confirming a sign-up needs the sign-up password and ends every other session of the account
(security review of the staff accounts, finding 2: a pre-hijacked account). Someone who signed
up with another person's address kept a logged-in session that became fully verified the moment
the address's owner pressed Confirm in the mailed link; now the owner, who does not know that
password, claims the address by a password reset, which ends the squatter's session."""
from __future__ import annotations

import json

from webapp.infra import background

from .conftest import PASSWORD
from .helpers import csrf_of, login
from .test_staff_accounts import ATTACKER_PASSWORD, NEW_PASSWORD, member_row, reset_password, signup


def _press_confirm(client, path: str, **fields):
    page = client.get(path)
    assert page.status_code == 200
    return page.get_data(as_text=True), client.post(path, data={**fields, "csrf_token": csrf_of(page.get_data(as_text=True))})


def test_confirming_needs_the_sign_up_password_and_ends_every_other_session(app, smtp):
    email = "two@example.com"
    assert signup(app.test_client(), email).status_code == 200
    path = smtp.link(email, "/account/verify/")
    other = app.test_client()  # a session logged in before the confirmation
    assert login(other, email, PASSWORD).status_code == 302
    assert other.get("/settings/keys").headers["Location"] == "/account/verify"
    browser = app.test_client()
    _, missing = _press_confirm(browser, path)
    assert missing.status_code == 400 and not member_row(app, email).is_verified
    _, wrong = _press_confirm(browser, path, password="not the sign-up password")
    assert wrong.status_code == 401 and "not the password chosen at sign-up" in wrong.get_data(as_text=True)
    assert not member_row(app, email).is_verified  # the link stays usable
    version = member_row(app, email).session_version
    _, done = _press_confirm(browser, path, password=PASSWORD)
    assert done.status_code == 302 and member_row(app, email).is_verified
    assert member_row(app, email).session_version == version + 1
    assert browser.get("/settings/keys").status_code == 200  # this browser: a fresh session
    assert other.get("/settings/keys").headers["Location"].startswith("/login")  # every other one ended


def test_a_pre_hijacked_address_is_claimed_by_a_reset_not_by_confirming(app, smtp):
    victim = "cto@victim.example"
    attacker = app.test_client()
    assert signup(attacker, victim, "Trap", password=ATTACKER_PASSWORD).status_code == 200
    background.wait_idle()
    assert login(attacker, victim, ATTACKER_PASSWORD).status_code == 302
    assert attacker.get("/settings/keys").headers["Location"] == "/account/verify"
    # The real owner opens the mailed link: Confirm needs the password the squatter chose.
    owner = app.test_client()
    page, refused = _press_confirm(owner, smtp.link(victim, "/account/verify/"), password=NEW_PASSWORD)
    assert "enter the password you chose at sign-up" in page
    assert "Didn't sign up?" in page and 'href="/password/forgot">Reset the password to claim this address.' in page
    assert refused.status_code == 401 and not member_row(app, victim).is_verified
    assert attacker.get("/settings/keys").headers["Location"] == "/account/verify"  # still nothing
    # "Reset the password to claim this address": the mail proves the address.
    _, done = reset_password(owner, smtp, victim, NEW_PASSWORD)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert attacker.get("/settings/keys").headers["Location"].startswith("/login")  # the squatter's session ended
    assert login(app.test_client(), victim, ATTACKER_PASSWORD).status_code == 401
    assert login(owner, victim, NEW_PASSWORD).status_code == 302
    assert owner.get("/settings/keys").status_code == 200 and member_row(app, victim).is_verified


def test_mailed_links_sign_in_only_by_a_post_with_csrf_and_the_password(app, smtp, owner_client):
    """No login CSRF: opening (GET) a sign-up or invitation link signs nobody in; a POST needs
    the page's CSRF token (bound to the browser's session) and a password typed there."""
    email = "csrf@example.com"
    assert signup(app.test_client(), email).status_code == 200
    verify = smtp.link(email, "/account/verify/")
    assert owner_client.post("/settings/team", data={"email": "inv@example.com", "role": "agent", "csrf_token": csrf_of(
        owner_client.get("/settings/team").get_data(as_text=True))}).status_code == 302
    invitation = smtp.link("inv@example.com", "/invitations/")
    victim, stranger = app.test_client(), app.test_client()
    for path in (verify, invitation):
        page = victim.get(path).get_data(as_text=True)
        assert 'method="post"' in page and "<a" not in page.split("<form", 1)[1].split("</form>", 1)[0]
    assert victim.get("/inbox").headers["Location"].startswith("/login")  # nobody signed in
    foreign = csrf_of(stranger.get(verify).get_data(as_text=True))  # another browser's token
    assert victim.post(verify, data={"password": PASSWORD}).status_code == 400
    assert victim.post(verify, data={"password": PASSWORD, "csrf_token": foreign}).status_code == 400
    assert victim.post(invitation + "/signup", data={"password": PASSWORD, "csrf_token": foreign}).status_code == 400
    own = csrf_of(victim.get(verify).get_data(as_text=True))
    assert victim.post(verify, data={"csrf_token": own}).status_code == 400  # no password: nothing
    assert victim.get("/inbox").headers["Location"].startswith("/login")
    assert not member_row(app, email).is_verified and member_row(app, "inv@example.com") is None


def test_cli_member_add_says_an_existing_account_keeps_its_password(app, smtp):
    runner = app.test_cli_runner()
    create = ["signet", "tenant", "create", "--owner-password", PASSWORD]
    first = json.loads(runner.invoke(args=[*create, "--name", "One", "--owner-email", "one@example.com"]).stdout)
    second = json.loads(runner.invoke(args=[*create, "--name", "Two", "--owner-email", "two@example.com"]).stdout)
    result = runner.invoke(args=["signet", "member", "add", second["tenant_id"], "--email", "one@example.com",
                                 "--password", "an operator's guess 123", "--role", "agent"])
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {"tenant_id": second["tenant_id"], "email": "one@example.com", "role": "agent"}
    assert "one@example.com already had an account: it keeps its own password" in result.stderr
    assert login(app.test_client(), "one@example.com", "an operator's guess 123").status_code == 401
    assert login(app.test_client(), "one@example.com", PASSWORD).status_code == 302
    new = runner.invoke(args=["signet", "member", "add", first["tenant_id"], "--email", "fresh@example.com",
                              "--password", PASSWORD, "--role", "agent"])
    assert new.exit_code == 0 and new.stderr == ""
