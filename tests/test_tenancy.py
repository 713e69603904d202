"""A member of two tenants sees each only when switched to it."""
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Tenant

from .conftest import PASSWORD
from .helpers import login, post_form


def test_member_of_two_tenants_switches_between_them(app, factory):
    first = factory.tenant("First Co")
    second = factory.tenant("Second Co")
    email = factory.member(first, "agent", "both@example.com")
    factory.member(second, "admin", "both@example.com")
    client = app.test_client()
    assert login(client, email, PASSWORD).status_code == 302

    page = client.get("/settings/workspace")
    # Memberships are listed by name: First Co (agent) is the starting workspace.
    assert page.status_code == 403
    inbox = client.get("/inbox").get_data(as_text=True)
    assert "First Co" in inbox and "(agent)" in inbox

    response = post_form(client, f"/switch/{second.id}", {}, page="/inbox")
    assert response.status_code == 302
    page = client.get("/settings/workspace").get_data(as_text=True)
    assert second.public_id in page and first.public_id not in page

    post_form(client, f"/switch/{first.id}", {}, page="/inbox")
    assert client.get("/settings/workspace").status_code == 403


def test_switching_to_a_tenant_you_are_not_in_is_404(app, owner_client, factory):
    other = factory.tenant("Not Mine")
    response = post_form(owner_client, f"/switch/{other.id}", {}, page="/inbox")
    assert response.status_code == 404
    page = owner_client.get("/settings/workspace").get_data(as_text=True)
    assert owner_client.tenant.public_id in page and other.public_id not in page


def test_a_member_creates_a_second_workspace(app, owner_client):
    response = post_form(owner_client, "/workspaces/new", {"workspace": "Side Project"})
    assert response.status_code == 302
    html = owner_client.get("/settings/workspace").get_data(as_text=True)
    assert 'value="Side Project"' in html
    with app.app_context():
        assert len(db.session.scalars(select(Tenant)).all()) == 2
