"""The audit log (issue 17, item 4): every audited change appears exactly once with the right
actor, on SQLite and PostgreSQL; the entry is part of the change's transaction; the page (owners
and admins, filters, cursor paging), `signet audit` and the retention enforced by `signet prune`."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.infra import background
from webapp.models import AuditEntry, VerificationKeyRow
from webapp.models._types import utcnow
from webapp.services import audit
from webapp.services.keys import keyring
from webapp.services.workspace import tenants

from ..conftest import PASSWORD, _served, make_app
from ..factories import public_pem
from ..helpers import csrf_of, login, post_form


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app(request, tmp_path):
    if request.param == "sqlite":
        yield from _served(make_app(tmp_path))
    else:
        yield from _served(make_app(tmp_path, SQLALCHEMY_DATABASE_URI=request.getfixturevalue("postgres_url")))


def log_of(app, tenant_id) -> list[tuple[str, str, str]]:
    with app.app_context():
        rows = db.session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.id))
        return [(e.action, e.actor, e.target) for e in rows]


def cli(app, *args):
    return app.test_cli_runner().invoke(args=["signet", *args])


def test_every_cli_change_once_as_command_line(app, ed_key):
    made = json.loads(cli(app, "tenant", "create", "--name", "Acme", "--owner-email", "o@example.com",
                          "--owner-password", PASSWORD).stdout)
    tid = made["tenant_id"]
    secret = json.loads(cli(app, "secret", "create", tid, "--label", "prod").stdout)
    pem_path = app.instance_path + "/k.pem"
    open(pem_path, "w").write(public_pem(ed_key))
    key = json.loads(cli(app, "key", "add", tid, "--alg", "EdDSA", "--file", pem_path, "--replace").stdout)
    assert cli(app, "key", "revoke", tid, key["kid"]).exit_code == 0
    assert cli(app, "tenant", "set", tid, "--seat-limit", "5", "--verification", "report").exit_code == 0
    assert cli(app, "tenant", "set", tid, "--seat-limit", "5").exit_code == 0  # no change: no entry
    assert cli(app, "member", "add", tid, "--email", "a@example.com", "--password", PASSWORD, "--role", "admin").exit_code == 0
    with app.app_context():
        tenant = tenants.get_tenant(tid)
        rows = list(db.session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == tenant.id).order_by(AuditEntry.id)))
    assert [(e.action, e.target) for e in rows] == [
        ("tenant.created", tid), ("secret.created", secret["kid"]), ("key.added", key["kid"]),
        ("key.revoked", key["kid"]), ("settings.changed", tid), ("member.added", "a@example.com")]
    assert {e.actor for e in rows} == {"command line"} and {e.address for e in rows} == {""}
    settings = rows[4]
    assert settings.before == {"verification_mode": "optional", "seat_limit": None}
    assert settings.after == {"verification_mode": "report", "seat_limit": 5}
    assert rows[2].after["replace"] is True and rows[2].after["alg"] == "EdDSA"
    # No secret anywhere in the log.
    dumped = json.dumps([[e.before, e.after, e.target] for e in rows])
    assert secret["secret"] not in dumped


def test_dashboard_changes_and_logins_once_with_the_member_as_actor(app, factory):
    tenant = factory.tenant()
    admin = factory.member(tenant, "admin")
    client = app.test_client()
    assert login(client, "nobody@example.com", "wrong-password-1").status_code == 401  # no account: no workspace
    assert login(client, admin, "wrong-password-1").status_code == 401
    assert login(client, admin, PASSWORD).status_code == 302
    assert post_form(client, "/settings/keys/secret", {"label": "x"}, page="/settings/keys").status_code == 201
    assert post_form(client, "/settings/team", {"email": "new@example.com", "role": "agent"}).status_code == 302
    background.wait_idle()
    entries = [e for e in log_of(app, tenant.id) if e[0] not in ("tenant.created", "member.added")]
    assert entries == [("member.login_failed", admin, admin), ("member.login", admin, admin),
                       ("secret.created", admin, entries[2][2]), ("invitation.created", admin, "new@example.com")]
    with app.app_context():
        addresses = set(db.session.scalars(select(AuditEntry.address).where(AuditEntry.actor == admin)))
    assert addresses == {"127.0.0.1"}


def test_settings_save_records_only_the_changed_fields(app, owner_client):
    page = owner_client.get("/settings/workspace").get_data(as_text=True)
    assert 'name="seat_limit"' in page
    response = post_form(owner_client, "/settings/workspace", {
        "name": "Renamed", "verification_mode": "optional", "allowed_origins": "", "seat_limit": "",
        "unsigned_user_limit": "", "audience": f"signet:{owner_client.tenant.public_id}"})
    assert response.status_code in (200, 302), response.get_data(as_text=True)[:500]
    with app.app_context():
        [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == owner_client.tenant.id,
                                                              AuditEntry.action == "settings.changed"))
        assert entry.before == {"name": "Acme"} and entry.after == {"name": "Renamed"}
        assert entry.actor == owner_client.tenant.owner


def test_a_fault_between_the_change_and_its_commit_leaves_neither(app, factory, monkeypatch):
    tenant = factory.tenant()
    real = audit.record

    def record_then_fail(*args, **kwargs):
        real(*args, **kwargs)
        raise RuntimeError("injected fault after the change and its entry, before the commit")

    monkeypatch.setattr(audit, "record", record_then_fail)
    with app.app_context():
        with pytest.raises(RuntimeError):
            keyring.create_secret(tenants.get_tenant(tenant.public_id))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(VerificationKeyRow)
                                 .where(VerificationKeyRow.tenant_id == tenant.id)) == 0
        assert db.session.scalar(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "secret.created")) == 0


def test_signet_audit_prints_json_lines_since(app, factory):
    tenant = factory.tenant()
    with app.app_context():
        keyring.create_secret(tenants.get_tenant(tenant.public_id))
        old = audit.record(tenant.id, "test.old", "t")
        old.at = utcnow() - timedelta(days=3)
        db.session.commit()
    result = cli(app, "audit", tenant.public_id)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert [line["action"] for line in lines] == ["test.old", "tenant.created", "secret.created"]
    assert set(lines[2]) >= {"at", "actor", "action", "target", "address", "after"}
    since = (utcnow() - timedelta(days=1)).date().isoformat()
    assert [json.loads(x)["action"] for x in cli(app, "audit", tenant.public_id, "--since", since).stdout.splitlines()] \
        == ["tenant.created", "secret.created"]
    bad = cli(app, "audit", tenant.public_id, "--since", "yesterday")
    assert bad.exit_code == 1 and "ISO 8601" in bad.stderr


@pytest.mark.parametrize("since", ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00"])
def test_a_since_out_of_range_is_refused_not_a_500(app, as_role, since):
    """A valid ISO 8601 time whose zone pushes it past year 1 or 9999 in UTC: a clear refusal."""
    owner = as_role("owner")
    page = owner.get("/settings/audit", query_string={"since": since})
    assert page.status_code == 400 and "out of range" in page.get_data(as_text=True)
    bad = cli(app, "audit", owner.tenant.public_id, "--since", since)
    assert bad.exit_code == 1 and "out of range" in bad.stderr


def test_prune_keeps_the_retention_window(app, factory):
    tenant = factory.tenant()
    with app.app_context():
        for days in (401, 399):
            audit.record(tenant.id, f"test.{days}").at = utcnow() - timedelta(days=days)
        db.session.commit()
    result = json.loads(cli(app, "prune").stdout)
    assert result["audit_entries"] == 1
    assert [a for a, _, _ in log_of(app, tenant.id) if a.startswith("test.")] == ["test.399"]


def test_page_for_owners_and_admins_with_filters_and_cursor_paging(app, as_role):
    owner = as_role("owner")
    with app.app_context():
        for i in range(60):
            audit.record(owner.tenant.id, "test.bulk", f"t{i}", actor="command line")
        db.session.commit()
    first = owner.get("/settings/audit?action=test.bulk")
    html = first.get_data(as_text=True)
    assert first.status_code == 200 and "frame-ancestors 'none'" in first.headers["Content-Security-Policy"]
    assert html.count("<code>test.bulk</code>") == 50 and "t59" in html and "t9<" not in html
    import re
    nxt = re.search(r'rel="next" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    second = owner.get(nxt).get_data(as_text=True)
    assert second.count("<code>test.bulk</code>") == 10 and "t0<" in second
    assert "test.bulk" not in owner.get("/settings/audit?actor=someone@example.com").get_data(as_text=True).split("<table")[-1] \
        or "No entry" in owner.get("/settings/audit?actor=someone@example.com").get_data(as_text=True)
    assert owner.get("/settings/audit?since=soon").status_code == 400
    assert owner.get("/settings/audit?after=garbage").status_code == 400
    assert as_role("admin").get("/settings/audit").status_code == 200
    assert as_role("agent").get("/settings/audit").status_code == 403
