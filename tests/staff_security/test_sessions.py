"""Dashboard sessions (issue 17, item 3): rows the login cookie names, listed on Your account →
Sessions, each revocable, "sign out everywhere", an owner ending a member's sessions; refused at
once, in another process too; last seen written at most once a minute; audited."""
from __future__ import annotations

import re
import uuid
from datetime import timedelta

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import AuditEntry, DashboardSession
from webapp.models._types import utcnow

from ..conftest import PASSWORD
from ..helpers import csrf_of, login, post_form
from ..servers import HttpClient, Server, migrated_app


def signed_in(app, email):
    client = app.test_client()
    assert login(client, email, PASSWORD).status_code == 302
    return client


def alive(client) -> bool:
    return client.get("/account/sessions").status_code == 200


def rows_of(app, email):
    from webapp.models import Member

    with app.app_context():
        return list(db.session.scalars(select(DashboardSession).join(Member).where(Member.email == email)
                                       .order_by(DashboardSession.id)))


def test_sessions_page_lists_and_revokes_another_browser_at_once(app, factory):
    tenant = factory.tenant()
    laptop, phone = signed_in(app, tenant.owner), signed_in(app, tenant.owner)
    page = laptop.get("/account/sessions", headers={"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Chrome/120.0"})
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    assert html.count("/revoke") == 2 and "(this browser)" in html
    phone_row = [r for r in rows_of(app, tenant.owner)][1]
    response = post_form(laptop, f"/account/sessions/{phone_row.id}/revoke", page="/account/sessions")
    assert response.status_code == 302
    assert not alive(phone) and alive(laptop)
    # Without CSRF nothing is ended.
    assert laptop.post(f"/account/sessions/{rows_of(app, tenant.owner)[0].id}/revoke").status_code == 400
    assert alive(laptop)
    with app.app_context():
        assert db.session.scalar(select(AuditEntry.actor).where(AuditEntry.action == "session.revoked")) == tenant.owner


def test_someone_elses_session_cannot_be_revoked(app, factory):
    a, b = factory.tenant(), factory.tenant()
    client_a, client_b = signed_in(app, a.owner), signed_in(app, b.owner)
    other = rows_of(app, b.owner)[0]
    assert post_form(client_a, f"/account/sessions/{other.id}/revoke", page="/account/sessions").status_code == 404
    assert alive(client_b)


def test_sign_out_everywhere_ends_every_session_and_is_audited_once(app, factory):
    tenant = factory.tenant()
    one, two = signed_in(app, tenant.owner), signed_in(app, tenant.owner)
    response = post_form(one, "/account/sessions/end-all", page="/account/sessions")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")
    assert not alive(one) and not alive(two)
    with app.app_context():
        [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "session.ended_all"))
        assert entry.actor == tenant.owner and entry.after == {"sessions": 2, "reason": "signed out everywhere"}


def test_owner_ends_a_members_sessions_from_team_admin_may_not(app, factory):
    tenant = factory.tenant()
    admin = factory.member(tenant, "admin")
    owner, admin_client = signed_in(app, tenant.owner), signed_in(app, admin)
    team = owner.get("/settings/team").get_data(as_text=True)
    ids = re.findall(r'/settings/team/(\d+)/end-sessions', team)
    assert len(ids) == 2
    admin_page = admin_client.get("/settings/team").get_data(as_text=True)
    assert "end-sessions" not in admin_page
    owner_membership = ids[0] if admin > tenant.owner else ids[1]  # the team is sorted by email
    assert post_form(admin_client, f"/settings/team/{owner_membership}/end-sessions", page="/settings/team").status_code == 403
    assert alive(owner)
    admin_membership = ids[1] if admin > tenant.owner else ids[0]
    assert post_form(owner, f"/settings/team/{admin_membership}/end-sessions", page="/settings/team").status_code == 302
    assert not alive(admin_client) and alive(owner)
    with app.app_context():
        [entry] = db.session.scalars(select(AuditEntry).where(AuditEntry.action == "session.ended_all"))
        assert (entry.actor, entry.target, entry.after["reason"]) == (tenant.owner, admin, "ended by an owner")


def test_last_seen_is_written_at_most_once_a_minute(app, factory):
    tenant = factory.tenant()
    client = signed_in(app, tenant.owner)
    [row] = rows_of(app, tenant.owner)
    for _ in range(3):
        assert alive(client)
    assert rows_of(app, tenant.owner)[0].last_seen_at == row.last_seen_at  # no write per request
    earlier = utcnow() - timedelta(minutes=2)
    with app.app_context():
        db.session.execute(update(DashboardSession).values(last_seen_at=earlier))
        db.session.commit()
    assert alive(client)
    assert rows_of(app, tenant.owner)[0].last_seen_at > earlier + timedelta(minutes=1)


def test_an_idle_session_past_the_lifetime_is_over(app, factory):
    tenant = factory.tenant()
    client = signed_in(app, tenant.owner)
    with app.app_context():
        db.session.execute(update(DashboardSession).values(last_seen_at=utcnow() - timedelta(hours=13)))
        db.session.commit()
    assert not alive(client)


def test_password_reset_and_logout_use_the_rows(app, factory):
    """Logout ends that session's row (every copy of its cookie); a password reset ends every row."""
    tenant = factory.tenant()
    copy_source = signed_in(app, tenant.owner)
    other = signed_in(app, tenant.owner)
    copy = app.test_client()
    copy.set_cookie("signet_session", copy_source.get_cookie("signet_session").value)
    assert alive(copy)
    post_form(copy_source, "/logout", page="/logout")
    assert not alive(copy) and alive(other)
    from webapp.services.workspace import members

    with app.app_context():
        from webapp.infra.database import writing

        with writing():
            members.set_password(members.find_member(tenant.owner).id, "another-" + PASSWORD)
    assert not alive(other)
    assert all(r.revoked_at is not None for r in rows_of(app, tenant.owner))


def test_revoked_session_refused_at_once_in_another_process(tmp_path):
    secret = "k-" + uuid.uuid4().hex
    url, app = migrated_app(tmp_path, secret)
    from webapp.services.workspace import tenants

    with app.app_context():
        tenants.create_tenant("Acme", "owner@example.com", PASSWORD)
    env = {"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": secret}
    a, b = Server(env), Server(env)
    try:
        victim, owner = HttpClient(a.url), HttpClient(a.url)
        for client in (victim, owner):
            status, _ = client.post_form("/login", {"email": "owner@example.com", "password": PASSWORD,
                                                    "csrf_token": csrf_of(client.get("/login"))})
            assert status == 200
        victim.base = b.url  # the same cookie, sent to the other process
        assert "Sessions" in victim.get("/account/sessions") and "Sign out everywhere" in victim.get("/account/sessions")
        page = owner.get("/account/sessions")
        status, _ = owner.post_form("/account/sessions/end-all", {"csrf_token": csrf_of(page)})
        assert "Sign out everywhere" not in victim.get("/account/sessions")  # process B: back to the login page
        assert 'name="password"' in victim.get("/account/sessions")
    finally:
        a.stop()
        b.stop()
