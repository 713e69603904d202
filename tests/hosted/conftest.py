"""The hosted page (/m/<tenant>): a workspace with a signing secret made at run time, codes signed
with PyJWT, end users made through the product's own set-user service, and a real SMTP server."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import EndUser
from webapp.infra import background
from webapp.services.end_users import identify, snapshots
from webapp.services.workspace import tenants

from ..factories import Workspace, make_workspace, snapshot
from ..helpers import csrf_of
from ..mailbox import Inbox, smtp_server  # noqa: F401  (Inbox: for the tests here)

# What a refused request must leave untouched (the rejection log may grow: it is not listed).
STORED_TABLES = ("end_user", "organization", "org_membership", "used_jti", "revoked_session", "email_sign_in")


@pytest.fixture(autouse=True)
def _cheap_owner_passwords(cheap_passwords):
    """Skip scrypt's deliberate cost when making owners (logins still verify the same password)."""


def make_tenant(app, name: str = "Acme", **settings) -> Workspace:
    """A workspace with an HS256 secret and login links on (tests/factories.py)."""
    return make_workspace(app, name, login_links_enabled=True, **settings)


@pytest.fixture
def tenant(app) -> Workspace:
    return make_tenant(app)


def configure(app, tenant: Workspace, **changes) -> None:
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(tenant.public_id), tenants.Settings(**changes))


def add_user(app, tenant: Workspace, external_id: str, **fields) -> None:
    """An end user as the widget makes them (unsigned set-user)."""
    with app.app_context():
        identify.set_user(snapshots.tenant(tenant.public_id), {"id": external_id, **fields})


def add_signed_user(app, tenant: Workspace, external_id: str, **fields) -> None:
    """An end user as the widget makes them from signed data (setUser({jwt})): verified, and the
    email it carries is proven, so email sign-in and login-only links may sign them in."""
    with app.app_context():
        identify.set_user(snapshots.tenant(tenant.public_id), {"jwt": tenant.sign({"id": external_id, **fields})})


def user_row(app, tenant: Workspace, external_id: str) -> EndUser | None:
    with app.app_context():
        user = db.session.scalar(select(EndUser).where(EndUser.tenant_id == tenant.id,
                                                       EndUser.external_id == external_id))
        if user is not None:
            db.session.expunge(user)
        return user


def user_count(app, tenant: Workspace) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(EndUser).where(EndUser.tenant_id == tenant.id))


def stored_counts(app) -> dict[str, int]:
    return {t: len(rows) for t, rows in snapshot(app, STORED_TABLES).items()}


def set_cookie_header(response, name: str) -> str | None:
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")), None)


def sign_out(client, tenant: Workspace, **kwargs):
    token = csrf_of(client.get(tenant.page, **kwargs).get_data(as_text=True))
    return client.post(f"{tenant.page}/sign-out", data={"csrf_token": token}, **kwargs)


@pytest.fixture
def smtp(app):
    """A real SMTP server on a free loopback port; the app mails through it."""
    yield from smtp_server(app)
