"""Setting up two-factor, requiring it for a workspace, an owner or the operator removing a
member's factors (audited), and no seed or recovery code stored readable (issue 17)."""
from __future__ import annotations

import json
import time

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEntry, Member, RecoveryCode, Tenant, TotpFactor

from ..conftest import PASSWORD
from ..helpers import login, post_form
from .helpers import KEY, enrol_totp, password_step, second_step


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_app(request):
    return request.getfixturevalue("app" if request.param == "sqlite" else "postgres_app")


def _entries(app, action: str) -> list[tuple[str, str, int]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id))
        return [(r.actor, r.target, r.tenant_id) for r in rows]


def test_no_totp_seed_or_recovery_code_is_stored_readable(any_app):
    from ..conftest import Factory

    tenant = Factory(any_app).tenant()
    client = any_app.test_client()
    login(client, tenant.owner, PASSWORD)
    post_form(client, "/account/security/totp/start", page="/account/security")
    seed = KEY.search(client.get("/account/security").get_data(as_text=True)).group(1)
    totp, codes = enrol_totp_with_seed(client, seed)
    secrets = {seed, seed.lower(), *codes, *(c.replace("-", "") for c in codes)}
    with any_app.app_context():
        with db.engine.connect() as connection:
            for table in db.metadata.sorted_tables:
                for row in connection.execute(table.select()):
                    for value in row:
                        text = value.hex() if isinstance(value, (bytes, memoryview)) else json.dumps(value, default=str)
                        if isinstance(value, (bytes, memoryview)):
                            text += bytes(value).decode("latin-1")
                        assert not any(s in text for s in secrets), f"a secret in {table.name}"
        assert db.session.scalar(select(TotpFactor.seed_ciphertext)).startswith("v1.")  # sealed
        assert db.session.scalar(select(RecoveryCode.id).limit(1)) is not None  # the codes are there, hashed
    # And they work: the seed from the page makes codes the login accepts.
    other = any_app.test_client()
    password_step(other, tenant.owner, PASSWORD)
    assert second_step(other, totp.at(time.time() + 30)).status_code == 302


def enrol_totp_with_seed(client, seed: str):
    """Confirm the enrolment already started (its seed read from the page)."""
    import pyotp

    from ..helpers import csrf_of

    totp = pyotp.TOTP(seed)
    page = client.get("/account/security").get_data(as_text=True)
    answer = client.post("/account/security/totp/confirm", data={"code": totp.now(), "csrf_token": csrf_of(page)})
    from .helpers import CODES

    return totp, CODES.findall(answer.get_data(as_text=True))


def test_the_seed_is_confirmed_with_a_code_before_it_counts(app, owner_client):
    post_form(owner_client, "/account/security/totp/start", page="/account/security")
    page = owner_client.get("/account/security").get_data(as_text=True)
    assert "<svg" in page and "Content-Security-Policy" in owner_client.get("/account/security").headers
    wrong = post_form(owner_client, "/account/security/totp/confirm", {"code": "12345"}, page="/account/security")
    assert wrong.status_code == 400 and "not right" in wrong.get_data(as_text=True)
    # Not on yet: a login asks for nothing more than the password.
    other = app.test_client()
    assert login(other, owner_client.tenant.owner, PASSWORD).headers["Location"] == "/"
    assert _entries(app, "twofactor.enabled") == []


def test_require_two_factor_sends_members_to_set_it_up_first(app, factory):
    tenant = factory.tenant()
    agent = factory.member(tenant, "agent")
    owner = app.test_client()
    login(owner, tenant.owner, PASSWORD)
    answer = post_form(owner, "/settings/team/require-two-factor", {"require_two_factor": "on"}, page="/settings/team")
    assert answer.status_code == 302
    # The owner has no factor yet either: every page but the set-up (and logout) sends them there.
    for path in ("/inbox", "/users", "/settings/team", "/settings/no-such-page", "/"):
        assert owner.get(path).headers.get("Location") == "/account/security", path
    assert owner.get("/account/security").status_code == 200
    assert owner.get("/logout").status_code == 200
    member = app.test_client()
    login(member, agent, PASSWORD)
    assert member.get("/inbox").headers["Location"] == "/account/security"
    enrol_totp(member)
    assert member.get("/inbox").status_code == 200
    with app.app_context():
        assert db.session.get(Tenant, tenant.id).require_two_factor is True
    assert _entries(app, "settings.changed")[-1][0] == tenant.owner


def test_only_owners_require_two_factor_or_remove_a_members_factors(app, factory):
    tenant = factory.tenant()
    admin_email = factory.member(tenant, "admin")
    admin = app.test_client()
    login(admin, admin_email, PASSWORD)
    enrol_totp(admin)
    owner = app.test_client()
    login(owner, tenant.owner, PASSWORD)
    with app.app_context():
        from webapp.models import Membership

        owner_link = db.session.scalar(select(Membership.id).join(Member).where(Member.email == tenant.owner))
        admin_link = db.session.scalar(select(Membership.id).join(Member).where(Member.email == admin_email))
    enrol_totp(owner)
    # An admin cannot strip the owner's factors, nor switch the requirement.
    assert post_form(admin, f"/settings/team/{owner_link}/reset-two-factor", page="/settings/team").status_code == 403
    assert post_form(admin, "/settings/team/require-two-factor", {"require_two_factor": "on"},
                     page="/settings/team").status_code == 403
    # The owner removes the admin's factors: audited once, by the owner, in this workspace.
    assert "Remove two-factor" in owner.get("/settings/team").get_data(as_text=True)
    assert post_form(owner, f"/settings/team/{admin_link}/reset-two-factor", page="/settings/team").status_code == 302
    assert _entries(app, "twofactor.removed") == [(tenant.owner, admin_email, tenant.id)]
    again = app.test_client()
    assert login(again, admin_email, PASSWORD).headers["Location"] == "/"  # password alone now
    with app.app_context():
        assert db.session.scalar(select(RecoveryCode.id).join(Member, Member.id == RecoveryCode.member_id)
                                 .where(Member.email == admin_email)) is None


def test_the_command_line_resets_a_locked_out_owner(app, factory):
    tenant = factory.tenant()
    owner = app.test_client()
    login(owner, tenant.owner, PASSWORD)
    enrol_totp(owner)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["signet", "member", "reset-2fa", tenant.public_id, tenant.owner.upper()])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"tenant_id": tenant.public_id, "email": tenant.owner, "removed": True}
    assert _entries(app, "twofactor.removed") == [("command line", tenant.owner, tenant.id)]
    assert login(app.test_client(), tenant.owner, PASSWORD).headers["Location"] == "/"
    missing = runner.invoke(args=["signet", "member", "reset-2fa", tenant.public_id, "nobody@example.com"])
    assert missing.exit_code == 1 and "No member nobody@example.com" in missing.stderr
    # tenant set --require-2fa
    on = runner.invoke(args=["signet", "tenant", "set", tenant.public_id, "--require-2fa", "on"])
    assert on.exit_code == 0 and json.loads(on.stdout)["require_2fa"] == "on"
    with app.app_context():
        assert db.session.get(Tenant, tenant.id).require_two_factor is True


def test_own_factor_changes_are_audited_in_each_workspace(app, factory):
    tenant = factory.tenant()
    client = app.test_client()
    login(client, tenant.owner, PASSWORD)
    post_form(client, "/workspaces/new", {"workspace": "Second"})
    enrol_totp(client)
    enabled = _entries(app, "twofactor.enabled")
    assert len(enabled) == 2 and {e[0] for e in enabled} == {tenant.owner} and len({e[2] for e in enabled}) == 2
    post_form(client, "/account/security/totp/remove", {"current": PASSWORD}, page="/account/security")
    assert len(_entries(app, "twofactor.removed")) == 2
    with app.app_context():
        assert db.session.scalar(select(RecoveryCode.id)) is None  # the codes went with the last factor
