"""Security review (issue 17): a signed-in session alone (a stolen cookie) cannot remove a second
factor or make new recovery codes; the current password or a fresh app code is asked for, and
guesses at it are throttled. Passkey challenges are used once across copies of a cookie."""
from __future__ import annotations

import time

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Member, Passkey, RecoveryCode, TotpFactor

from ..conftest import PASSWORD
from ..helpers import csrf_of, login, post_form
from .helpers import ORIGIN, add_passkey, enrol_totp, passkey_challenge
from .softkey import SoftKey


def _totp_row(app, email):
    with app.app_context():
        member_id = db.session.scalar(select(Member.id).where(Member.email == email))
        return db.session.get(TotpFactor, member_id), member_id


def _codes(app, member_id):
    with app.app_context():
        return set(db.session.scalars(select(RecoveryCode.code_hash).where(RecoveryCode.member_id == member_id)))


def test_removing_the_app_or_making_new_codes_asks_for_the_password_or_a_code(app, factory):
    tenant = factory.tenant()
    client = app.test_client()
    login(client, tenant.owner, PASSWORD)
    totp, _ = enrol_totp(client)
    row, member_id = _totp_row(app, tenant.owner)
    codes = _codes(app, member_id)
    for proof in ({}, {"current": "wrong password"}, {"current": "000000"}):
        answer = post_form(client, "/account/security/totp/remove", proof, page="/account/security")
        assert answer.status_code in (400, 401, 403), answer.status_code
        answer = post_form(client, "/account/security/recovery-codes", proof, page="/account/security")
        assert answer.status_code in (400, 401, 403), answer.status_code
    assert _totp_row(app, tenant.owner)[0] is not None and _codes(app, member_id) == codes
    # The password makes new codes; a fresh app code removes the app.
    answer = post_form(client, "/account/security/recovery-codes", {"current": PASSWORD}, page="/account/security")
    assert answer.status_code == 200 and _codes(app, member_id) != codes
    time.sleep(max(0.0, 30 - time.time() % 30) + 0.1)  # the enrolment used this step's code
    answer = post_form(client, "/account/security/totp/remove", {"current": totp.now()}, page="/account/security")
    assert answer.status_code == 302 and _totp_row(app, tenant.owner)[0] is None


def test_removing_a_passkey_asks_for_the_password(app, factory):
    tenant = factory.tenant()
    client = app.test_client()
    login(client, tenant.owner, PASSWORD)
    passkey_id = add_passkey(app, tenant.owner, SoftKey())
    path = f"/account/security/passkeys/{passkey_id}/remove"
    assert post_form(client, path, page="/account/security").status_code in (400, 401, 403)
    with app.app_context():
        assert db.session.get(Passkey, passkey_id) is not None
    assert post_form(client, path, {"current": PASSWORD}, page="/account/security").status_code == 302
    with app.app_context():
        assert db.session.get(Passkey, passkey_id) is None


def test_guesses_at_the_current_password_are_throttled(app, factory):
    tenant = factory.tenant()
    client = app.test_client()
    login(client, tenant.owner, PASSWORD)
    enrol_totp(client)
    page = client.get("/account/security").get_data(as_text=True)
    statuses = [client.post("/account/security/recovery-codes", data={"csrf_token": csrf_of(page), "current": f"guess{i}"})
                .status_code for i in range(11)]
    assert statuses[-1] == 429
    # Even the right password waits now.
    assert client.post("/account/security/recovery-codes", data={"csrf_token": csrf_of(page), "current": PASSWORD}
                       ).status_code == 429


def test_a_passkey_challenge_replayed_from_a_copy_of_the_cookie_is_refused(app, factory):
    tenant = factory.tenant()
    key = SoftKey()
    add_passkey(app, tenant.owner, key)
    client, csrf, options = passkey_challenge(app, tenant.owner)
    stolen = client.get_cookie("signet_session").value  # a copy taken while the challenge is outstanding
    first = key.assertion(options["challenge"], "localhost", ORIGIN)
    answer = client.post("/login/two-factor/passkey", json=first, headers={"X-CSRFToken": csrf})
    assert answer.status_code == 200, answer.get_json()
    thief = app.test_client()
    thief.set_cookie("signet_session", stolen)
    again = key.assertion(options["challenge"], "localhost", ORIGIN)  # a fresh signature over the same challenge
    answer = thief.post("/login/two-factor/passkey", json=again, headers={"X-CSRFToken": csrf})
    assert answer.status_code == 401, answer.get_json()
    assert thief.get("/inbox").status_code == 302
