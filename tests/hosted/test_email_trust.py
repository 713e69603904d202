"""Email sign-in and what it proves (issue 20 findings 2 and 4), through the hosted page, a real
SMTP server, the widget API and the dashboard.

- Signing in by email proves the address: the user is verified ("email sign-in"), and the id
  email sign-in makes (`email:<address>`) is one unsigned data can never name.
- Only a proven email (from signed data or an email sign-in) signs anyone in: an account planted
  by unsigned data with the victim's address never catches the victim's sign-in.
"""
from __future__ import annotations

import time

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import EndUser

from ..conftest import PASSWORD
from ..helpers import login
from .conftest import add_user, configure, stored_counts, user_count, user_row
from .test_email_signin import ask, confirm, link_in, links

VICTIM = "victim@corp.example"


def widget_set_user(client, tenant, body: dict):
    return client.post(f"/api/v1/widget/{tenant.public_id}/set-user", json=body)


def signed_in_as(client, tenant) -> str:
    body = client.get(tenant.page).get_data(as_text=True)
    assert "Signed in as <strong>" in body, body
    return body.split("Signed in as <strong>", 1)[1].split("</strong>", 1)[0]


def sign_in_by_email(app, client, tenant, smtp, address: str, mails_before: int = 0):
    ask(client, tenant, address)
    path, _ = link_in(smtp.wait_for(mails_before + 1)[mails_before])
    assert confirm(client, path).status_code == 303


def test_email_sign_in_verifies_the_user_and_unsigned_data_cannot_name_them(app, client, tenant, smtp, factory):
    configure(app, tenant, email_sign_in="create")
    sign_in_by_email(app, client, tenant, smtp, VICTIM)

    # The finding: setUser({id: "email:victim@…"}) with no credential got the victim's session.
    before = stored_counts(app)
    response = widget_set_user(app.test_client(), tenant, {"id": f"email:{VICTIM}", "name": "Mallory"})
    assert response.status_code == 400, response.get_json()
    error = response.get_json()["error"]
    assert (error["code"], error["field"]) == ("invalid_field", "id") and "reserved" in error["message"]
    assert "session" not in response.get_json() and stored_counts(app) == before
    user = user_row(app, tenant, f"email:{VICTIM}")
    assert (user.verified, user.verified_via, user.email_verified, user.created_via) == (True, "email", True, "email")

    # The dashboard says how the user was verified.
    staff = app.test_client()
    assert login(staff, factory.member(tenant, "admin"), PASSWORD).status_code == 302
    page = staff.get(f"/users/{user.id}").get_data(as_text=True)
    assert "Verified" in page and "(email sign-in)" in page


def test_an_email_user_made_before_the_rule_is_verified_when_they_sign_in(app, client, tenant, smtp):
    """A row email sign-in created while it still left users unverified (as the migration keeps it):
    the next sign-in verifies it by email, and unsigned data naming a verified user is refused."""
    with app.app_context():
        db.session.add(EndUser(tenant_id=tenant.id, external_id="legacy-jane", email="jane@corp.example", attrs={},
                               created_via="email", email_verified=True))
        db.session.commit()
    sign_in_by_email(app, client, tenant, smtp, "Jane@corp.example")  # existing mode: she is known
    user = user_row(app, tenant, "legacy-jane")
    assert (user.verified, user.verified_via, user.verified_alg) == (True, "email", None)
    response = widget_set_user(app.test_client(), tenant, {"id": "legacy-jane"})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "verification_required"


def test_a_planted_account_never_catches_the_victims_sign_in_create_mode(app, client, tenant, smtp):
    """Mallory sends setUser({id: "mallory", email: <victim's>}) unsigned, and is even verified
    later by a token that leaves the email out. The victim's sign-in lands in a fresh user."""
    configure(app, tenant, email_sign_in="create")
    add_user(app, tenant, "mallory", email=VICTIM, name="Mallory")
    with app.app_context():  # the tenant's own backend signs Mallory's id, not her email
        from webapp.services.end_users import identify, snapshots
        identify.set_user(snapshots.tenant(tenant.public_id), {"jwt": tenant.sign({"id": "mallory"})})
    mallory = user_row(app, tenant, "mallory")

    sign_in_by_email(app, client, tenant, smtp, VICTIM)
    assert signed_in_as(client, tenant) == VICTIM  # not "Mallory"
    fresh = user_row(app, tenant, f"email:{VICTIM}")
    assert fresh is not None and fresh.verified and user_count(app, tenant) == 2
    assert user_row(app, tenant, "mallory").last_seen_at == mallory.last_seen_at  # untouched
    assert (mallory.verified, mallory.email, mallory.email_verified) == (True, VICTIM, False)


def test_a_planted_account_never_catches_the_victims_sign_in_existing_mode(app, client, tenant, smtp):
    """In `existing` mode the victim is answered as an unknown address: no mail, no sign-in."""
    add_user(app, tenant, "mallory", email=VICTIM, name="Mallory")
    response = ask(client, tenant, VICTIM)
    assert response.status_code == 200 and "If an account exists for this address" in response.get_data(as_text=True)
    time.sleep(0.3)
    assert smtp.messages == [] and links(app) == []
    with app.app_context():
        assert db.session.scalar(select(EndUser.verified).where(EndUser.external_id == "mallory")) is False


def test_a_proven_email_still_signs_its_user_in(app, client, tenant, smtp):
    """Signed data (a login link with a user object) proves the email it carries."""
    assert client.get(tenant.link({"user": {"id": "u-vic", "email": VICTIM, "name": "Vic"}})).status_code == 303
    add_user(app, tenant, "mallory", email=VICTIM, name="Mallory")  # seen more recently: irrelevant
    other = app.test_client()
    sign_in_by_email(app, other, tenant, smtp, VICTIM.upper())
    assert signed_in_as(other, tenant) == "Vic"
    vic = user_row(app, tenant, "u-vic")
    assert (vic.verified_via, vic.email_verified) == ("login_link", True)  # the signed record is kept
