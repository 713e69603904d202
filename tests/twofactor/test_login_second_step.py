"""The second step of a staff login (issue 17): a TOTP code is accepted once, a passkey of another
member is refused, wrong codes are throttled, every refusal is audited, and a browser that only
passed the password reaches nothing."""
from __future__ import annotations

import time

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEntry

from ..conftest import PASSWORD
from ..helpers import csrf_of, login, post_form
from .helpers import ORIGIN, add_passkey, enrol_totp, passkey_challenge, password_step, second_step
from .softkey import SoftKey


def _signed_in_with_totp(app, factory):
    tenant = factory.tenant()
    client = app.test_client()
    assert login(client, tenant.owner, PASSWORD).status_code == 302
    totp, codes = enrol_totp(client)
    return tenant, totp, codes


def _failures(app, email: str) -> list[dict]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "twofactor.failed",
                                                           AuditEntry.target == email).order_by(AuditEntry.id))
        return [{"actor": r.actor, **(r.after or {})} for r in rows]


def test_a_totp_code_is_accepted_once_and_a_reused_one_is_refused_and_audited(app, factory):
    tenant, totp, _ = _signed_in_with_totp(app, factory)
    code = totp.at(time.time() + 30)  # the next step's code: inside the window, not used at enrolment
    first = app.test_client()
    assert password_step(first, tenant.owner, PASSWORD).headers["Location"] == "/login/two-factor"
    assert second_step(first, code).status_code == 302
    assert first.get("/inbox").status_code == 200
    # The same code again, from another browser that knows the password: refused.
    second = app.test_client()
    password_step(second, tenant.owner, PASSWORD)
    refused = second_step(second, code)
    assert refused.status_code == 401
    assert "used already" in refused.get_data(as_text=True)
    assert second.get("/inbox").headers["Location"].startswith("/login")
    assert _failures(app, tenant.owner) == [{"actor": tenant.owner, "method": "authenticator app", "reason": "reused"}]
    # An older step's code is refused as well (the step only moves forward).
    assert second_step(second, totp.at(time.time())).status_code == 401


def test_a_recovery_code_works_once(app, factory):
    tenant, _, codes = _signed_in_with_totp(app, factory)
    first = app.test_client()
    password_step(first, tenant.owner, PASSWORD)
    assert second_step(first, codes[3].upper()).status_code == 302  # case and dashes do not matter
    assert first.get("/inbox").status_code == 200
    second = app.test_client()
    password_step(second, tenant.owner, PASSWORD)
    assert second_step(second, codes[3]).status_code == 401
    assert _failures(app, tenant.owner)[-1]["reason"] == "wrong"
    with app.app_context():
        used = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "twofactor.recovery_code_used")).all()
        assert [(e.actor, e.target, e.after) for e in used] == [(tenant.owner, tenant.owner, {"left": 9})]


def test_wrong_codes_are_throttled_even_before_the_right_one(app, factory):
    tenant, totp, _ = _signed_in_with_totp(app, factory)
    client = app.test_client()
    password_step(client, tenant.owner, PASSWORD)
    wrong = "000000" if totp.now() != "000000" else "111111"
    for _ in range(10):
        assert second_step(client, wrong).status_code == 401
    blocked = second_step(client, totp.at(time.time() + 30))
    assert blocked.status_code == 429
    assert int(blocked.headers["Retry-After"]) > 0
    assert client.get("/inbox").headers["Location"].startswith("/login")
    assert len(_failures(app, tenant.owner)) == 10


def test_a_passkey_of_another_member_is_refused_and_audited(app, factory):
    alice, mallory = factory.tenant(), factory.tenant()
    key = SoftKey()  # Mallory's own passkey, with its private key: a valid signature, the wrong member
    add_passkey(app, mallory.owner, key, "mine")
    add_passkey(app, alice.owner, SoftKey(), "alice's")

    def try_passkey(email: str):
        client, csrf, options = passkey_challenge(app, email)
        answer = client.post("/login/two-factor/passkey", json=key.assertion(options["challenge"], "localhost", ORIGIN),
                             headers={"X-CSRFToken": csrf})
        return client, answer

    client, answer = try_passkey(alice.owner)
    assert answer.status_code == 401
    assert answer.get_json()["error"]["code"] == "second_factor_refused"
    assert client.get("/inbox").headers["Location"].startswith("/login")
    assert _failures(app, alice.owner) == [{"actor": alice.owner, "method": "passkey", "reason": "other_member"}]
    # The same authenticator signs its own member in: the refusal was the member check, not the signature.
    client, answer = try_passkey(mallory.owner)
    assert answer.status_code == 200, answer.get_json()
    assert client.get(answer.get_json()["next"]).status_code in (200, 302)
    assert client.get("/inbox").status_code == 200


def test_a_passkey_challenge_is_used_once(app, factory):
    tenant = factory.tenant()
    key = SoftKey()
    add_passkey(app, tenant.owner, key)
    client, csrf, options = passkey_challenge(app, tenant.owner)
    stale = key.assertion("A" * 43, "localhost", ORIGIN)  # not the challenge the server made
    assert client.post("/login/two-factor/passkey", json=stale, headers={"X-CSRFToken": csrf}).status_code == 401
    # The real challenge was used up by that attempt: a right answer to it is refused too.
    right = key.assertion(options["challenge"], "localhost", ORIGIN)
    answer = client.post("/login/two-factor/passkey", json=right, headers={"X-CSRFToken": csrf})
    assert answer.status_code == 401 and "expired" in answer.get_json()["error"]["message"]
    # Without the CSRF header nothing is checked at all.
    assert client.post("/login/two-factor/passkey/options").status_code == 400


@pytest.mark.parametrize("path", ["/inbox", "/users", "/settings/team", "/settings/workspace", "/settings/no-such-page",
                                  "/account/security", "/workspaces/new"])
def test_a_pending_second_factor_reaches_no_page(app, factory, path):
    tenant, _, _ = _signed_in_with_totp(app, factory)
    client = app.test_client()
    assert password_step(client, tenant.owner, PASSWORD).headers["Location"] == "/login/two-factor"
    answer = client.get(path)
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), (path, answer.status_code)


def test_a_pending_second_factor_cannot_post_settings(app, factory):
    tenant, _, _ = _signed_in_with_totp(app, factory)
    client = app.test_client()
    password_step(client, tenant.owner, PASSWORD)
    csrf = csrf_of(client.get("/login/two-factor").get_data(as_text=True))
    for path in ("/settings/workspace", "/settings/team/require-two-factor", "/account/security/totp/remove"):
        answer = client.post(path, data={"csrf_token": csrf, "name": "Taken", "require_two_factor": "on"})
        assert answer.status_code == 302 and answer.headers["Location"].startswith("/login"), path
    with app.app_context():
        from webapp.models import Tenant

        row = db.session.get(Tenant, tenant.id)
        assert (row.name, row.require_two_factor) == ("Acme", False)


def test_the_pending_state_expires(app, factory, monkeypatch):
    tenant, totp, _ = _signed_in_with_totp(app, factory)
    client = app.test_client()
    password_step(client, tenant.owner, PASSWORD)
    from webapp.auth import twofactor_views

    later = time.time() + twofactor_views.PENDING_SECONDS + 1
    monkeypatch.setattr(twofactor_views.time, "time", lambda: later)
    answer = post_form(client, "/login/two-factor", {"code": totp.at(time.time() + 30)}, page="/login")
    assert answer.headers["Location"] == "/login"
    assert client.get("/inbox").headers["Location"].startswith("/login")
