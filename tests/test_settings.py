"""Settings → Workspace and Team: validation, roles, invitations, the last owner, agents refused."""
import re

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Invitation, Membership, Tenant

from .conftest import PASSWORD
from .helpers import csrf_of, login, post_form

VALID = {
    "name": "Acme",
    "verification_mode": "report",
    "allowed_origins": "https://App.Example.com:443\nhttp://localhost:5001\n",
    "seat_limit": "25",
    "audience": "acme-widget",
    "require_audience": "y",
    "issuer": "https://acme.example",
    "login_links_enabled": "y",
    "login_links_require_jti": "y",
    "login_links_max_age": "300",
    "email_sign_in": "create",
}


def tenant_row(app, public_id):
    with app.app_context():
        tenant = db.session.scalar(select(Tenant).where(Tenant.public_id == public_id))
        db.session.expunge(tenant)
        return tenant


def test_workspace_settings_save_and_normalize(app, owner_client):
    response = post_form(owner_client, "/settings/workspace", VALID)
    assert response.status_code == 302
    tenant = tenant_row(app, owner_client.tenant.public_id)
    assert tenant.verification_mode == "report"
    assert tenant.allowed_origins == ["https://app.example.com", "http://localhost:5001"]
    assert (tenant.seat_limit, tenant.audience, tenant.require_audience) == (25, "acme-widget", True)
    assert tenant.issuer == "https://acme.example"
    assert (tenant.login_links_enabled, tenant.login_links_require_jti, tenant.login_links_max_age) == (True, True, 300)
    assert tenant.email_sign_in == "create"
    # Unticked boxes and empty numbers turn settings off again.
    cleared = {**VALID, "seat_limit": "", "issuer": "", "login_links_max_age": ""}
    for key in ("require_audience", "login_links_enabled", "login_links_require_jti"):
        cleared.pop(key)
    assert post_form(owner_client, "/settings/workspace", cleared).status_code == 302
    tenant = tenant_row(app, owner_client.tenant.public_id)
    assert tenant.seat_limit is None and tenant.issuer is None and tenant.login_links_max_age is None
    assert not tenant.require_audience and not tenant.login_links_enabled


@pytest.mark.parametrize(
    "change, message",
    [
        ({"allowed_origins": "https://app.example.com/path"}, "is not an origin"),
        ({"allowed_origins": "null"}, "is not an origin"),
        ({"allowed_origins": "ftp://example.com"}, "is not an origin"),
        ({"allowed_origins": "https://*.example.com"}, "Wildcard"),
        ({"seat_limit": "-1"}, "Number must be between 0 and"),
        ({"seat_limit": "ten"}, "Not a valid integer"),
        ({"login_links_max_age": "0"}, "Number must be between 1 and"),
        ({"audience": ""}, "This field is required"),
        ({"verification_mode": "strict"}, "Not a valid choice"),
        ({"email_sign_in": "everyone"}, "Not a valid choice"),
        ({"name": ""}, "This field is required"),
        ({"name": "Acme\r\nBcc: all@example.com"}, "control characters"),  # it goes into mail headers
        ({"allowed_origins": "https://a\x00b.example.com"}, "is not an origin"),
    ],
)
def test_workspace_settings_validation_changes_nothing(app, owner_client, change, message):
    before = tenant_row(app, owner_client.tenant.public_id)
    response = post_form(owner_client, "/settings/workspace", {**VALID, **change})
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    after = tenant_row(app, owner_client.tenant.public_id)
    assert (after.verification_mode, after.allowed_origins, after.seat_limit) == (
        before.verification_mode, before.allowed_origins, before.seat_limit)


SETTINGS_PAGES = ["/settings/", "/settings/workspace", "/settings/team"]


@pytest.mark.parametrize("path", SETTINGS_PAGES)
def test_agents_get_403_on_settings_get_and_post(as_role, path):
    agent = as_role("agent")
    assert agent.get(path).status_code == 403
    token = csrf_of(agent.get("/inbox").get_data(as_text=True))
    assert agent.post(path, data={"csrf_token": token, **VALID}).status_code == 403


def test_agents_get_403_on_team_actions_and_see_no_settings_link(app, as_role):
    agent = as_role("agent")
    html = agent.get("/inbox").get_data(as_text=True)
    assert 'href="/settings/' not in html
    with app.app_context():
        link_id = db.session.scalar(select(Membership.id).where(Membership.role == "owner"))
    token = csrf_of(html)
    assert agent.post(f"/settings/team/{link_id}/remove", data={"csrf_token": token}).status_code == 403
    assert agent.post(f"/settings/team/{link_id}/role", data={"csrf_token": token, "role": "agent"}).status_code == 403


def test_admins_reach_settings(as_role):
    admin = as_role("admin")
    assert admin.get("/settings/workspace").status_code == 200
    assert admin.get("/settings/team").status_code == 200


def test_the_sidebar_offers_only_pages_the_member_may_open(as_role, owner_client):
    """Single sign-on is for owners: an admin's sidebar leaves it out (the page itself is 403)."""
    admin = as_role("admin")
    admin_page = admin.get("/settings/workspace").get_data(as_text=True)
    assert 'href="/settings/sso"' not in admin_page and admin.get("/settings/sso").status_code == 403
    assert 'href="/settings/webhooks"' in admin_page
    assert 'href="/settings/sso"' in owner_client.get("/settings/workspace").get_data(as_text=True)


def team_links(app, tenant_id):
    with app.app_context():
        rows = db.session.execute(
            select(Membership.id, Membership.role).where(Membership.tenant_id == tenant_id).order_by(Membership.id)
        ).all()
        return [tuple(r) for r in rows]


def test_team_invite_accept_change_role_and_remove(app, owner_client, capfd):
    """Adding an address mails an invitation that grants nothing until it is accepted."""
    response = post_form(owner_client, "/settings/team", {"email": "agent@example.com", "role": "agent"})
    assert response.status_code == 302
    assert [role for _, role in team_links(app, owner_client.tenant.id)] == ["owner"]  # pending: nothing yet
    assert "agent@example.com" in owner_client.get("/settings/team").get_data(as_text=True)
    path = re.search(r"invitation agent@example.com -> http://localhost(/invitations/\S+)", capfd.readouterr().err).group(1)
    other = app.test_client()
    html = other.get(path).get_data(as_text=True)
    assert other.post(f"{path}/signup", data={"password": PASSWORD, "csrf_token": csrf_of(html)}).status_code == 302
    links = team_links(app, owner_client.tenant.id)
    assert [role for _, role in links] == ["owner", "agent"]
    agent_link = links[1][0]
    assert post_form(owner_client, f"/settings/team/{agent_link}/role", {"role": "admin"}, page="/settings/team").status_code == 302
    assert team_links(app, owner_client.tenant.id)[1][1] == "admin"
    # The new member can log in with the password chosen on the invitation page.
    again = app.test_client()
    assert login(again, "agent@example.com", PASSWORD).status_code == 302
    assert post_form(owner_client, f"/settings/team/{agent_link}/remove", {}, page="/settings/team").status_code == 302
    assert team_links(app, owner_client.tenant.id) == links[:1]
    # Removed from its only workspace: the member is sent to create one.
    assert again.get("/inbox").headers["Location"].endswith("/workspaces/new")


def pending_invitations(app, tenant_id):
    with app.app_context():
        return db.session.execute(select(Invitation.email, Invitation.role)
                                  .where(Invitation.tenant_id == tenant_id)).all()


@pytest.mark.parametrize(
    "data, message",
    [
        ({"email": "bad", "role": "agent"}, "valid email"),
        ({"email": "", "role": "agent"}, "This field is required"),
        ({"email": "x@example.com", "role": "root"}, "Not a valid choice"),
    ],
)
def test_team_invite_validation(app, owner_client, data, message):
    response = post_form(owner_client, "/settings/team", data)
    assert response.status_code == 400
    assert message in response.get_data(as_text=True)
    assert len(team_links(app, owner_client.tenant.id)) == 1
    assert pending_invitations(app, owner_client.tenant.id) == []


def test_inviting_an_existing_member_is_refused(app, owner_client, factory):
    member = factory.member(owner_client.tenant, "agent")
    for email in (member, owner_client.tenant.owner):
        response = post_form(owner_client, "/settings/team", {"email": email, "role": "admin"})
        assert response.status_code == 400 and "already a member" in response.get_data(as_text=True)
    assert pending_invitations(app, owner_client.tenant.id) == []


def test_last_owner_cannot_be_removed_or_demoted(app, owner_client):
    (owner_link, _), = team_links(app, owner_client.tenant.id)
    response = post_form(owner_client, f"/settings/team/{owner_link}/remove", {}, page="/settings/team")
    assert response.status_code == 302
    assert "at least one owner" in owner_client.get("/settings/team").get_data(as_text=True)
    post_form(owner_client, f"/settings/team/{owner_link}/role", {"role": "admin"}, page="/settings/team")
    assert team_links(app, owner_client.tenant.id) == [(owner_link, "owner")]


def test_admin_cannot_grant_or_remove_owner(app, as_role):
    admin = as_role("admin")
    links = team_links(app, admin.tenant.id)
    owner_link = next(i for i, role in links if role == "owner")
    admin_link = next(i for i, role in links if role == "admin")
    post_form(admin, f"/settings/team/{owner_link}/remove", {}, page="/settings/team")
    post_form(admin, f"/settings/team/{admin_link}/role", {"role": "owner"}, page="/settings/team")
    response = post_form(admin, "/settings/team", {"email": "o2@example.com", "role": "owner"})
    assert response.status_code == 400 and "Only an owner" in response.get_data(as_text=True)
    assert sorted(team_links(app, admin.tenant.id)) == sorted(links)
    assert pending_invitations(app, admin.tenant.id) == []


def test_team_actions_on_another_tenants_member_are_404(app, owner_client, factory):
    other = factory.tenant("Other")
    (other_link, _), = team_links(app, other.id)
    assert post_form(owner_client, f"/settings/team/{other_link}/remove", {}, page="/settings/team").status_code == 404
    assert post_form(owner_client, f"/settings/team/{other_link}/role", {"role": "agent"}, page="/settings/team").status_code == 404
    assert team_links(app, other.id) == [(other_link, "owner")]
