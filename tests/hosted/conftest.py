"""The hosted page (/m/<tenant>): a workspace with a signing secret made at run time, codes signed
with PyJWT, end users made through the product's own set-user service, and a real SMTP server."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote

import jwt
import pytest
from sqlalchemy import func, select, text
from werkzeug.security import generate_password_hash

from webapp.extensions import db
from webapp.models import EndUser
from webapp.services import background, keyring, members, people, snapshots, tenants

from ..conftest import PASSWORD
from ..helpers import csrf_of
from ..mailbox import Inbox, smtp_server  # noqa: F401  (Inbox: for the tests here)

# What a refused request must leave untouched (the rejection log may grow: it is not listed).
STORED_TABLES = ("end_user", "organization", "org_membership", "used_jti", "revoked_session", "email_sign_in")


@dataclass
class HostedTenant:
    id: int
    public_id: str
    owner: str
    secret: str
    kid: str

    @property
    def page(self) -> str:
        return f"/m/{self.public_id}"

    @property
    def cookie(self) -> str:
        return f"signet_m_{self.public_id}"

    def code(self, claims: dict | None = None, *, secret: str | None = None, kid: str | None = None,
             ttl: int = 300) -> str:
        body = {"exp": int(time.time()) + ttl, **(claims or {})}
        return jwt.encode(body, secret or self.secret, algorithm="HS256", headers={"kid": kid or self.kid})

    def link(self, claims: dict | None = None, **kwargs) -> str:
        return f"{self.page}?externalAuthCode={quote(self.code(claims, **kwargs))}"


@pytest.fixture(autouse=True)
def _cheap_owner_passwords(monkeypatch):
    """Skip scrypt's deliberate cost when making owners (logins still verify the same password)."""
    monkeypatch.setattr(members, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))


def make_tenant(app, name: str = "Acme", **settings) -> HostedTenant:
    owner = f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with app.app_context():
        row = tenants.create_tenant(name, owner, PASSWORD)
        secret_row, secret = keyring.create_secret(row)
        tenants.update_settings(row, tenants.Settings(login_links_enabled=True, **settings))
        return HostedTenant(row.id, row.public_id, owner, secret, secret_row.kid)


@pytest.fixture
def tenant(app) -> HostedTenant:
    return make_tenant(app)


def configure(app, tenant: HostedTenant, **changes) -> None:
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(tenant.public_id), tenants.Settings(**changes))


def add_user(app, tenant: HostedTenant, external_id: str, **fields) -> None:
    """An end user as the widget makes them (unsigned set-user)."""
    with app.app_context():
        people.set_user(snapshots.tenant(tenant.public_id), {"id": external_id, **fields})


def add_signed_user(app, tenant: HostedTenant, external_id: str, **fields) -> None:
    """An end user as the widget makes them from signed data (setUser({jwt})): verified, and the
    email it carries is proven, so email sign-in and login-only links may sign them in."""
    with app.app_context():
        people.set_user(snapshots.tenant(tenant.public_id), {"jwt": tenant.code({"id": external_id, **fields})})


def user_row(app, tenant: HostedTenant, external_id: str) -> EndUser | None:
    with app.app_context():
        user = db.session.scalar(select(EndUser).where(EndUser.tenant_id == tenant.id,
                                                       EndUser.external_id == external_id))
        if user is not None:
            db.session.expunge(user)
        return user


def user_count(app, tenant: HostedTenant) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(EndUser).where(EndUser.tenant_id == tenant.id))


def stored_counts(app) -> dict[str, int]:
    with app.app_context():
        return {t: db.session.execute(text(f"SELECT count(*) FROM {t}")).scalar() for t in STORED_TABLES}


def set_cookie_header(response, name: str) -> str | None:
    return next((h for h in response.headers.getlist("Set-Cookie") if h.startswith(name + "=")), None)


def sign_out(client, tenant: HostedTenant, **kwargs):
    token = csrf_of(client.get(tenant.page, **kwargs).get_data(as_text=True))
    return client.post(f"{tenant.page}/sign-out", data={"csrf_token": token}, **kwargs)


@pytest.fixture
def smtp(app):
    """A real SMTP server on a free loopback port; the app mails through it."""
    yield from smtp_server(app)
