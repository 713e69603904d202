"""The server API over HTTP: workspaces with API keys made by the product's own service."""
from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.services.keys import apikeys
from webapp.services.workspace import tenants

from ..conftest import provision

BASE = "/api/v1/server"


@pytest.fixture(autouse=True)
def _cheap_owner_passwords(cheap_passwords):
    """Owners never log in here: skip scrypt's deliberate cost."""


class Api:
    """A client bound to one API key: api.get("/users"), api.put("/users/u1", json={...})."""

    def __init__(self, app, key: str, workspace):
        self.app, self.key, self.workspace = app, key, workspace
        self.client = app.test_client()

    def open(self, method: str, path: str, key: str | None = None, **kwargs):
        headers = dict(kwargs.pop("headers", None) or {})
        headers.setdefault("Authorization", f"Bearer {key or self.key}")
        return self.client.open(BASE + path, method=method, headers=headers, **kwargs)

    def get(self, path, **kw):
        return self.open("GET", path, **kw)

    def put(self, path, **kw):
        return self.open("PUT", path, **kw)

    def post(self, path, **kw):
        return self.open("POST", path, **kw)

    def delete(self, path, **kw):
        return self.open("DELETE", path, **kw)


def make_key(app, public_id: str, scope: str = "write", name: str = "backend") -> tuple[str, str]:
    """(key, key id) for the workspace `public_id`."""
    with app.app_context():
        row, key = apikeys.create(tenants.get_tenant(public_id), name, scope)
        ident = row.public_id
        db.session.remove()
    return key, ident


@pytest.fixture
def workspace(app, ed_key):
    return provision(app, ed_key, "Acme")


@pytest.fixture
def other(app, ed_key):
    return provision(app, ed_key, "Globex")


@pytest.fixture
def api(app, workspace) -> Api:
    key, ident = make_key(app, workspace.public_id)
    made = Api(app, key, workspace)
    made.key_id = ident
    return made


@pytest.fixture
def read_api(app, workspace) -> Api:
    key, _ = make_key(app, workspace.public_id, "read", "reader")
    return Api(app, key, workspace)


@pytest.fixture
def other_api(app, other) -> Api:
    key, _ = make_key(app, other.public_id)
    return Api(app, key, other)
