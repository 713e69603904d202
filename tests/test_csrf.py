"""Every dashboard POST without a valid CSRF token is refused and changes nothing."""
import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Membership

from . import factories
from .conftest import PASSWORD


def snapshot(app):
    """Every stored row of the workspace, staff and role tables (tests/factories.py)."""
    return factories.snapshot(app, ("tenant", "member", "membership"))


def forms(app, client):
    with app.app_context():
        link = db.session.scalar(select(Membership.id))
    tenant_id = client.tenant.id
    return [
        ("/login", {"email": client.tenant.owner, "password": PASSWORD}),
        ("/signup", {"workspace": "X", "email": "x@example.com", "password": PASSWORD}),
        ("/logout", {}),
        ("/workspaces/new", {"workspace": "Y"}),
        (f"/switch/{tenant_id}", {}),
        ("/settings/workspace", {"name": "Renamed", "verification_mode": "required", "audience": "a", "email_sign_in": "off"}),
        ("/settings/team", {"email": "new@example.com", "password": PASSWORD, "role": "admin"}),
        (f"/settings/team/{link}/role", {"role": "agent"}),
        (f"/settings/team/{link}/remove", {}),
    ]


@pytest.mark.parametrize("token", [None, "", "forged-token"])
def test_every_form_refuses_missing_or_wrong_csrf(app, owner_client, token):
    before = snapshot(app)
    for path, data in forms(app, owner_client):
        if token is not None:
            data = {**data, "csrf_token": token}
        response = owner_client.post(path, data=data)
        assert response.status_code in (400, 403), path
        assert snapshot(app) == before, path
    # Still logged in: the refused logout did nothing.
    assert owner_client.get("/inbox").status_code == 200
