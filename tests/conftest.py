"""Fixtures: a fresh app and database per test, factories, and the PostgreSQL server (`make test`'s)."""
from __future__ import annotations

import os
import time
import uuid

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from webapp import create_app
from webapp.extensions import db, limiter
from webapp.services.workspace import members, tenants

from .factories import PASSWORD, Key, Workspace, cheap_passwords, make_workspace  # noqa: F401
from .helpers import login


def make_app(tmp_path, **overrides):
    instance = tmp_path / "instance"
    instance.mkdir(exist_ok=True)
    config = {
        "TESTING": True,
        "SECRET_KEY": "test-secret-key-" + uuid.uuid4().hex,
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{instance / 'test.sqlite3'}",
        "SIGNET_RATELIMIT": None,
    }
    config.update(overrides)
    app = create_app(config, instance_path=str(instance))
    with app.app_context():
        db.create_all()
    limiter.reset()
    return app


def _served(app):
    yield app
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture
def app(tmp_path):
    yield from _served(make_app(tmp_path))


@pytest.fixture
def private_urls_app(tmp_path):
    """`app` allowed to call 127.0.0.1 (SIGNET_ALLOW_PRIVATE_URLS, as an operator sets it for a JWKS
    or an OIDC provider on the same machine); a module or folder makes it its `app` fixture."""
    yield from _served(make_app(tmp_path, SIGNET_ALLOW_PRIVATE_URLS=True))


@pytest.fixture
def postgres_app(tmp_path, postgres_url):
    """`app` on a fresh PostgreSQL database (a module makes it its `app` fixture)."""
    yield from _served(make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def app_on_both(request, tmp_path):
    """`app` on SQLite, then on a fresh PostgreSQL database (marked postgres): a module makes it
    its `app` fixture for what must hold on both databases."""
    if request.param == "sqlite":
        yield from _served(make_app(tmp_path))
    else:
        yield request.getfixturevalue("postgres_app")


@pytest.fixture
def smtp(app):
    """A real SMTP server on a free loopback port; the app mails through it (tests/mailbox.py)."""
    from .mailbox import smtp_server

    yield from smtp_server(app)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield


class Factory:
    """Workspaces (tests/factories.py) without keys, and members, made through the product's services."""

    def __init__(self, app):
        self.app = app
        self.count = 0

    def tenant(self, name: str = "Acme", email: str | None = None) -> Workspace:
        self.count += 1
        email = email or f"owner{self.count}-{uuid.uuid4().hex[:6]}@example.com"
        return make_workspace(self.app, name, owner=email, secret=False)

    def member(self, tenant: Workspace, role: str, email: str | None = None) -> str:
        self.count += 1
        email = email or f"{role}{self.count}-{uuid.uuid4().hex[:6]}@example.com"
        with self.app.app_context():
            members.add_to_tenant(tenants.get_tenant(tenant.public_id), email, PASSWORD, role)
        return email


@pytest.fixture(scope="session")
def ed_key():
    """One Ed25519 key pair per test session, made at run time (no key is ever committed)."""
    from cryptography.hazmat.primitives.asymmetric import ed25519

    return ed25519.Ed25519PrivateKey.generate()


def provision(app, ed_key, name: str = "Acme", **settings) -> Workspace:
    """A workspace (tests/factories.py) with an HS256 secret and the session's Ed25519 public key."""
    return make_workspace(app, name, keys=(Key("EdDSA", "", ed_key, None),), **settings)


@pytest.fixture
def factory(app):
    return Factory(app)


@pytest.fixture
def owner_client(app, factory):
    """A client logged in as the owner of a fresh tenant; the tenant is client.tenant."""
    tenant = factory.tenant()
    client = app.test_client()
    assert login(client, tenant.owner, PASSWORD).status_code == 302
    client.tenant = tenant
    return client


@pytest.fixture
def as_role(app, factory):
    """as_role('agent') → a client logged in with that role in a fresh tenant."""

    def make(role: str):
        tenant = factory.tenant()
        email = tenant.owner if role == "owner" else factory.member(tenant, role)
        client = app.test_client()
        assert login(client, email, PASSWORD).status_code == 302
        client.tenant, client.email = tenant, email
        return client

    return make


# --- PostgreSQL -------------------------------------------------------------------------------

def postgres_admin_url() -> str:
    """The server in SIGNET_TEST_POSTGRES_URL: `make test` (tests/pg_cluster.py) starts a throwaway
    one when none is given. Missing, a postgres test fails: it is never skipped."""
    url = os.environ.get("SIGNET_TEST_POSTGRES_URL")
    if not url:
        pytest.fail("no PostgreSQL server: run `make test`, which starts a throwaway one, or "
                    "`.venv/bin/python tests/pg_cluster.py -- .venv/bin/python -m pytest ...`, "
                    "or set SIGNET_TEST_POSTGRES_URL")
    return url


def pytest_collection_modifyitems(items):
    """A test that asks for a PostgreSQL database carries the `postgres` marker, so
    `-m postgres` selects every one of them (a parametrized fixture marks its own param)."""
    for item in items:
        if "postgres_url" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.postgres)


@pytest.fixture
def postgres_url():
    """A fresh, empty PostgreSQL database for one test, dropped afterwards."""
    admin = postgres_admin_url()
    name = "signet_t_" + uuid.uuid4().hex[:12]
    engine = create_engine(admin, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    base, _, _ = admin.rpartition("/")
    yield f"{base}/{name}"
    drop_database(engine, name)
    engine.dispose()


def drop_database(engine, name: str, attempts: int = 40) -> None:
    """DROP … WITH (FORCE) must also end backends the test role may not signal (an autovacuum
    worker started by the test's writes): those finish within moments, so retry briefly."""
    for attempt in range(attempts):
        try:
            with engine.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            return
        except DBAPIError:
            if attempt == attempts - 1:
                raise
            time.sleep(0.25)
