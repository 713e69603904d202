"""The widget JSON API over HTTP: a tenant with keys made at run time, and request helpers.

Keys are never committed: the Ed25519 private key is generated once per test session, each
tenant gets a fresh HS256 signing secret from the keyring service (the way the product makes
them), and tokens are signed with PyJWT.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import func, select, text

from werkzeug.security import generate_password_hash

from webapp.extensions import db
from webapp.services import members, tenants

from ..conftest import provision

ORIGIN = "https://app.example.com"
# What a refusal must leave untouched (the rejection log may grow: it is not listed).
STORED_TABLES = ("end_user", "organization", "org_membership", "used_jti", "conversation", "message",
                 "revoked_session")


@dataclass
class WidgetTenant:
    """A workspace as the tests drive it: its ids, its HS256 secret and its Ed25519 key."""

    id: int
    public_id: str
    owner: str
    secret: str
    secret_kid: str
    ed_kid: str
    ed_key: ed25519.Ed25519PrivateKey

    def url(self, path: str) -> str:
        return f"/api/v1/widget/{self.public_id}/{path}"


@pytest.fixture(autouse=True)
def _cheap_owner_passwords(monkeypatch):
    """Owners never log in here: skip scrypt's deliberate cost (most of a tenant's set-up time)."""
    monkeypatch.setattr(members, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))


def make_tenant(app, ed_key, name: str = "Acme") -> WidgetTenant:
    made = provision(app, ed_key, name)
    return WidgetTenant(made["id"], made["public_id"], made["owner"], made["secret"], made["secret_kid"],
                        made["ed_kid"], ed_key)


@pytest.fixture
def tenant(app, ed_key) -> WidgetTenant:
    return make_tenant(app, ed_key)


@pytest.fixture
def other_tenant(app, ed_key) -> WidgetTenant:
    """A second workspace in the same database (it shares the Ed25519 public key, not the secret)."""
    return make_tenant(app, ed_key, "Globex")


@pytest.fixture
def client(app, tenant):
    """A test client whose requests go to `tenant` unless told otherwise."""
    client = app.test_client()
    client.tenant = tenant
    return client


def sign(claims: dict, tenant: WidgetTenant, alg: str = "HS256", *, kid: bool = True,
         headers: dict | None = None, exp: bool = True) -> str:
    """A token for `tenant`: exp five minutes ahead unless given (or exp=False), its kid unless kid=False."""
    body = dict(claims)
    if exp:
        body.setdefault("exp", int(time.time()) + 300)
    extra = dict(headers or {})
    if alg == "EdDSA":
        key, key_kid = tenant.ed_key, tenant.ed_kid
    else:
        key, key_kid = tenant.secret, tenant.secret_kid
    if kid:
        extra.setdefault("kid", key_kid)
    return jwt.encode(body, key, algorithm=alg, headers=extra or None)


def bearer(session: str) -> dict:
    return {"Authorization": f"Bearer {session}"}


def set_user(client, body, headers: dict | None = None, origin: str | None = None, tenant: WidgetTenant | None = None):
    """POST set-user as the widget does; `origin` adds an Origin header."""
    return call(client, "POST", "set-user", body, headers=headers, origin=origin, tenant=tenant)


def call(client, method: str, path: str, body=None, *, session: str | None = None, headers: dict | None = None,
         origin: str | None = None, tenant: WidgetTenant | None = None, **kwargs):
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


def settings(app, tenant: WidgetTenant, **changes) -> None:
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
    with app.app_context():
        return {t: sorted(map(repr, db.session.execute(text(f"SELECT * FROM {t}")).all())) for t in STORED_TABLES}

