"""An app that may call 127.0.0.1 (SIGNET_ALLOW_PRIVATE_URLS, as the operator would set it for a
JWKS on the same machine), a local issuer, and a workspace with its own uploaded keys."""
from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.services.idp import providers
from webapp.services.workspace import tenants

from ..conftest import provision
from .issuer import Issuer


@pytest.fixture(autouse=True)
def _cheap_owner_passwords(cheap_passwords):
    """Owners log in rarely here: skip scrypt's deliberate cost."""


@pytest.fixture
def app(private_urls_app):
    return private_urls_app


@pytest.fixture
def issuer():
    server = Issuer()
    yield server
    server.stop()


@pytest.fixture
def tenant(app, ed_key):
    return provision(app, ed_key)


def add_provider(app, tenant, issuer, **settings) -> dict:
    """Configure `issuer` for `tenant` through the service the CLI and page use; its summary."""
    settings.setdefault("audiences", ["client-123"])
    with app.app_context():
        row = providers.add(tenants.get_tenant(tenant.public_id), issuer=settings.pop("issuer", issuer.url), **settings)
        found = providers.summary(row)
        db.session.remove()
    return found


def set_user(app, tenant, token, **headers):
    return app.test_client().post(tenant.url("set-user"), json={"jwt": token}, headers=headers)
