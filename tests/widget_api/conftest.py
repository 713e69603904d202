"""The widget JSON API over HTTP: a tenant with keys made at run time, and request helpers.

Keys are never committed: the Ed25519 private key is generated once per test session, each
tenant gets a fresh HS256 signing secret from the keyring service (the way the product makes
them), and tokens are signed with PyJWT.
"""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.services.workspace import tenants

from .. import factories
from ..conftest import provision
from ..factories import Workspace

ORIGIN = "https://app.example.com"
# What a refusal must leave untouched (the rejection log may grow: it is not listed).
STORED_TABLES = ("end_user", "organization", "org_membership", "used_jti", "conversation", "message",
                 "revoked_session")


@pytest.fixture(autouse=True)
def _cheap_owner_passwords(cheap_passwords):
    """Owners never log in here: skip scrypt's deliberate cost (most of a tenant's set-up time)."""


@pytest.fixture
def db_app(app_on_both):
    """An app on SQLite, then on PostgreSQL (tests marked postgres), for tests of both databases' statements."""
    return app_on_both


def make_tenant(app, ed_key, name: str = "Acme") -> Workspace:
    """A workspace with an HS256 secret and the session's Ed25519 key (tests/factories.py)."""
    return provision(app, ed_key, name)


@pytest.fixture
def tenant(app, ed_key) -> Workspace:
    return make_tenant(app, ed_key)


@pytest.fixture
def other_tenant(app, ed_key) -> Workspace:
    """A second workspace in the same database (it shares the Ed25519 public key, not the secret)."""
    return make_tenant(app, ed_key, "Globex")


@pytest.fixture
def client(tenant):
    """A test client whose requests go to `tenant` unless told otherwise."""
    return tenant.api_client()


def sign(claims: dict, tenant: Workspace, alg: str = "HS256", *, kid: bool = True,
         headers: dict | None = None, exp: bool = True) -> str:
    """A token for `tenant`: exp five minutes ahead unless given (or exp=False), its kid unless kid=False."""
    return tenant.sign(claims, alg, kid=kid, headers=headers, exp=exp)


def bearer(session: str) -> dict:
    return {"Authorization": f"Bearer {session}"}


def set_user(client, body, headers: dict | None = None, origin: str | None = None, tenant: Workspace | None = None):
    """POST set-user as the widget does; `origin` adds an Origin header."""
    return call(client, "POST", "set-user", body, headers=headers, origin=origin, tenant=tenant)


def call(client, method: str, path: str, body=None, *, session: str | None = None, headers: dict | None = None,
         origin: str | None = None, tenant: Workspace | None = None, **kwargs):
    """Any widget endpoint: JSON body for POST, Bearer session and Origin when given."""
    sent = dict(headers or {})
    if session is not None:
        sent.update(bearer(session))
    if origin is not None:
        sent["Origin"] = origin
    url = (tenant or client.tenant).url(path)
    if method == "POST" and body is not None:
        kwargs["json"] = body
    return client.open(url, method=method, headers=sent, **kwargs)


def identify(client, body, **kwargs) -> dict:
    """set-user that must succeed; the 200 JSON."""
    response = set_user(client, body, **kwargs)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def assert_error(response, status: int, code: str, field: str | None = None) -> dict:
    """The contract's error body, exactly: {"error": {"code", "message", "field"?}}."""
    body = response.get_json()
    assert response.status_code == status, body
    assert set(body) == {"error"}, body
    error = body["error"]
    assert set(error) == ({"code", "message", "field"} if field is not None else {"code", "message"}), error
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"].strip(), error
    if field is not None:
        assert error["field"] == field, error
        assert error["message"].startswith(f"{field}:"), error
    return error


def settings(app, tenant: Workspace, **changes) -> None:
    """Change the tenant's settings through the service the CLI and pages use."""
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(tenant.public_id), tenants.Settings(**changes))


def count(app, model, *where) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model).where(*where))


def fetch(app, model, *where):
    """The matching rows, detached for reading after the context ends."""
    with app.app_context():
        rows = list(db.session.scalars(select(model).where(*where)))
        db.session.expunge_all()
        return rows


def snapshot(app) -> dict:
    """Every stored row of the tables a refusal must not touch."""
    return factories.snapshot(app, STORED_TABLES)
