"""The dashboard's inbox, users and organizations, fed through the real widget API.

End users, organizations and conversations are made the way a customer's site makes them:
`POST /api/v1/widget/<tenant>/set-user` (unsigned, signed with the tenant's Ed25519 key, or a
login link signed with its HS256 secret) and the conversation endpoints with the returned
bearer session. Keys are generated at run time; nothing secret is committed.
"""
from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

import pytest

from ..conftest import PASSWORD, provision
from ..factories import Workspace
from ..helpers import csrf_of, login


@pytest.fixture(autouse=True)
def _cheap_passwords(cheap_passwords):
    """Members log in here many times: skip scrypt's deliberate cost."""


def make_workspace(app, ed_key, name: str = "Acme") -> Workspace:
    """A workspace whose login links are on (tests/factories.py)."""
    return provision(app, ed_key, name, login_links_enabled=True)


@pytest.fixture
def ws(app, ed_key) -> Workspace:
    return make_workspace(app, ed_key)


@pytest.fixture
def other_ws(app, ed_key) -> Workspace:
    return make_workspace(app, ed_key, "Globex")


@pytest.fixture
def staff(app, ws):
    """A test client logged in as the owner of `ws`."""
    client = app.test_client()
    assert login(client, ws.owner, PASSWORD).status_code == 302
    return client


def post(client, path: str, data: dict | None = None, page: str = "/inbox", **kwargs):
    """POST a dashboard form with a CSRF token taken from `page`, as a browser would."""
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def links(html: str, rel: str) -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def ago(**delta) -> datetime:
    return datetime.now(timezone.utc) - timedelta(**delta)
