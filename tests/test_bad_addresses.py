"""Addresses no row can match: a U+0000 anywhere, ids past 64 bits, odd digits and damaged cursors.
Each is a 404 or 400 before any query (PostgreSQL refuses U+0000 and 64-bit overflows with errors
that would otherwise be 500s), on the pages and on the JSON API."""
from __future__ import annotations

import base64
import json

import pytest

from webapp.services.workspace import tenants
from webapp.services.errors import Refused

from .helpers import csrf_of

TOO_BIG = str(2**63)


@pytest.mark.parametrize("path", ["/users/%00", "/inbox/a%00b", "/inbox?c=a%00", "/inbox/updates.json?ids=a%00b",
                                  f"/users/{TOO_BIG}", f"/organizations/{TOO_BIG}", "/users/0"])
def test_pages_answer_404(owner_client, path):
    assert owner_client.get(path).status_code == 404


@pytest.mark.parametrize("path", [f"/settings/team/{TOO_BIG}/role", f"/settings/team/{TOO_BIG}/remove",
                                  f"/switch/{TOO_BIG}"])
def test_posts_to_ids_past_64_bits_answer_404(owner_client, path):
    token = csrf_of(owner_client.get("/settings/team").get_data(as_text=True))
    assert owner_client.post(path, data={"csrf_token": token, "role": "agent"}).status_code == 404


def test_the_hosted_page_and_the_api_answer_404(client, owner_client):
    public_id = owner_client.tenant.public_id
    assert client.get("/m/a%00b").status_code == 404
    for path in ("/api/v1/widget/%00/set-user", f"/api/v1/widget/{public_id}/conversations/%00/messages",
                 f"/api/v1/widget/{public_id}/conversations/1/messages?after=%00"):
        response = client.post(path, json={"id": None}) if path.endswith("set-user") else client.get(path)
        assert response.status_code == 404 and response.get_json()["error"]["code"] == "not_found", path


def cursor(values, number=1) -> str:
    return base64.urlsafe_b64encode(json.dumps({"k": values, "p": number}).encode()).decode().rstrip("=")


@pytest.mark.parametrize("query", ["page=%C2%B2", "page=0", f"after={cursor([2**63, 5])}",
                                   f"after={cursor(['a' + chr(0), 5])}", f"after={cursor(['x', 5], 1e400)}"])
def test_odd_page_numbers_and_cursors_answer_400(owner_client, query):
    for page in ("/users", "/organizations", "/inbox"):
        assert owner_client.get(f"{page}?{query}").status_code == 400, (page, query)


def test_a_seat_limit_in_other_digits_is_refused(app, owner_client):
    with app.app_context():
        tenant = tenants.get_tenant(owner_client.tenant.public_id)
        with pytest.raises(Refused):
            tenants.update_settings(tenant, tenants.Settings(seat_limit="²"))
