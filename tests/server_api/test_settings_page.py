"""Settings → API keys: owners and admins make a key (shown once) and revoke it; agents get 403."""
from __future__ import annotations

import re

import pytest

from ..helpers import post_form
from .conftest import Api

PAGE = "/settings/api-keys"


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_make_use_and_revoke_a_key(app, as_role, role):
    client = as_role(role)
    made = post_form(client, PAGE, {"name": "billing", "scope": "write"}, page=PAGE)
    assert made.status_code == 201
    html = made.get_data(as_text=True)
    key = re.search(r'value="(sk_live_[0-9a-f]{16}_[A-Za-z0-9_-]{43})"', html).group(1)
    assert "Content-Security-Policy" in made.headers
    api = Api(app, key, client.tenant)
    assert api.put("/users/from-page", json={}).status_code == 201
    listing = client.get(PAGE).get_data(as_text=True)
    assert key not in listing and "billing" in listing  # shown once only
    key_id = "ak_" + key.split("_")[2]
    assert post_form(client, f"{PAGE}/{key_id}/revoke", {}, page=PAGE).status_code == 302
    assert api.get("/users").status_code == 401


def test_agents_get_403(as_role):
    client = as_role("agent")
    assert client.get(PAGE).status_code == 403
    assert post_form(client, PAGE, {"name": "x", "scope": "write"}, page="/inbox").status_code == 403


def test_without_csrf_nothing_is_made(app, as_role):
    client = as_role("owner")
    assert client.post(PAGE, data={"name": "x", "scope": "write"}).status_code in (400, 403)
    assert "sk_live_" not in client.get(PAGE).get_data(as_text=True)
