"""Hostile pagination cursors (issue 20 #11): deeply nested, huge or odd JSON is a 400 on every
list, never a 500 (json.loads raised RecursionError, which nothing caught)."""
from __future__ import annotations

import base64
import json

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Organization


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


HOSTILE = {
    "nested-list": b64(b"[" * 100_000 + b"]" * 100_000),
    "nested-under-the-length-cap": b64(b'{"k":' + b"[" * 2400 + b"]" * 2400 + b',"p":2}'),  # RecursionError
    "nested-in-k": b64(b'{"k":' + b"[" * 5000 + b"]" * 5000 + b',"p":2}'),
    "nested-dict": b64(b'{"k":[' + b'{"t":' * 3000 + b"1" + b"}" * 3000 + b'],"p":2}'),
    "too-long": b64(json.dumps({"k": ["x" * 20_000, 1], "p": 2}).encode()),
    "huge-number": b64(b'{"k":[1],"p":1' + b"0" * 5000 + b"}"),
    "infinite-page": b64(b'{"k":[1],"p":1e999}'),
    "nan-key": b64(b'{"k":[NaN,1],"p":2}'),
}


@pytest.mark.parametrize("cursor", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("name", ["after", "before"])
@pytest.mark.parametrize("path", ["/users", "/organizations", "/inbox"])
def test_a_hostile_cursor_is_a_400(ws, staff, path, name, cursor):
    response = staff.get(f"{path}?{name}={cursor}")
    assert response.status_code == 400, response.status_code
    assert "damaged" in response.get_data(as_text=True)


@pytest.mark.parametrize("cursor", HOSTILE.values(), ids=HOSTILE.keys())
def test_the_csv_export_is_never_a_500(ws, staff, cursor):
    """The export reads no cursor: it ignores one, whatever it holds."""
    response = staff.get(f"/users.csv?after={cursor}&before={cursor}")
    assert response.status_code == 200
    assert response.get_data(as_text=True).startswith("user_id,")


def test_an_organizations_member_list_refuses_one_too(app, ws, staff):
    ws.signed_user({"id": "u-org", "organizations": [{"id": "o-1", "name": "Org One"}]})
    with app.app_context():
        org_id = db.session.scalar(select(Organization.id).where(Organization.tenant_id == ws.id))
    for cursor in HOSTILE.values():
        assert staff.get(f"/organizations/{org_id}?after={cursor}").status_code == 400
