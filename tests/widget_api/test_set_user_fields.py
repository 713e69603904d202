"""The field table of API.md §3 at and past each limit, through set-user: unsigned and signed.

The rules themselves are unit-tested in tests/identity/test_userdata.py; this matrix proves the
HTTP face applies them to both payload forms with the same status, code and field path, and
stores exactly what was accepted (and nothing when refused).
"""
from __future__ import annotations

import pytest

from webapp.models import EndUser, Organization, OrgMembership

from .conftest import assert_error, count, fetch, set_user, sign

EMAIL_254 = "a" * 242 + "@example.com"
LONG_URL = "https://example.com/" + "a" * (2048 - len("https://example.com/"))
ATTRS_50 = {f"k{i}": i for i in range(50)}
ATTRS_51 = {f"k{i}": i for i in range(51)}


def org(i, name=None, **extra):
    return {"id": i, "name": name or f"Org {i}", **extra}


# (case id, extra user fields beside id "u-1" (or replacing it), expected: None = accepted, else the field)
ACCEPTED = [
    ("id-255", {"id": "x" * 255}, None),
    ("id-integer", {"id": 123}, None),
    ("email-254", {"email": EMAIL_254}, None),
    ("name-255", {"name": "n" * 255}, None),
    ("avatar-https", {"avatarUrl": "https://cdn.example.com/a.jpg"}, None),
    ("avatar-2048", {"avatarUrl": LONG_URL}, None),
    ("attrs-50-keys", {"attrs": ATTRS_50}, None),
    ("attr-key-64", {"attrs": {"k" * 64: 1}}, None),
    ("attr-value-1024", {"attrs": {"plan": "v" * 1024}}, None),
    ("attr-scalars", {"attrs": {"s": "x", "n": 1.5, "b": False, "z": None}}, None),
    ("orgs-10", {"organizations": [org(i) for i in range(10)]}, None),
]
REFUSED = [
    ("id-256", {"id": "x" * 256}, "id"),
    ("id-empty", {"id": ""}, "id"),
    ("id-bool", {"id": True}, "id"),
    ("id-float", {"id": 1.0}, "id"),
    ("id-nul", {"id": "a\x00b"}, "id"),
    ("email-255", {"email": "a" + EMAIL_254}, "email"),
    ("email-invalid", {"email": "jane@"}, "email"),
    ("name-256", {"name": "n" * 256}, "name"),
    ("name-nul", {"name": "Ja\x00ne"}, "name"),
    ("avatar-http", {"avatarUrl": "http://cdn.example.com/a.jpg"}, "avatarUrl"),
    ("avatar-javascript", {"avatarUrl": "javascript:alert(1)"}, "avatarUrl"),
    ("avatar-2049", {"avatarUrl": LONG_URL + "a"}, "avatarUrl"),
    ("attrs-51-keys", {"attrs": ATTRS_51}, "attrs"),
    ("attr-key-65", {"attrs": {"k" * 65: 1}}, "attrs." + "k" * 65),
    ("attr-value-1025", {"attrs": {"plan": "v" * 1025}}, "attrs.plan"),
    ("attr-nested-object", {"attrs": {"plan": {"tier": "pro"}}}, "attrs.plan"),
    ("attr-nested-array", {"attrs": {"tags": ["a"]}}, "attrs.tags"),
    ("attr-value-nul", {"attrs": {"plan": "p\x00"}}, "attrs.plan"),
    ("orgs-11", {"organizations": [org(i) for i in range(11)]}, "organizations"),
    ("org-3-no-name", {"organizations": [org(0), org(1), org(2), {"id": 3}]}, "organizations[3].name"),
    ("org-name-256", {"organizations": [org(0, "n" * 256)]}, "organizations[0].name"),
    ("org-no-id", {"organizations": [{"name": "Acme"}]}, "organizations[0].id"),
    ("org-attr-nested", {"organizations": [org(0, attrs={"a": {}})]}, "organizations[0].attrs.a"),
]
CASES = ACCEPTED + REFUSED


def body_of(fields: dict) -> dict:
    return {"id": "u-1", **fields}


def send(client, tenant, form: str, user: dict):
    """The same user data unsigned, or as the claims of an HS256 token."""
    if form == "unsigned":
        return set_user(client, user)
    return set_user(client, {"jwt": sign(user, tenant)})


@pytest.mark.parametrize("form", ["unsigned", "signed"])
@pytest.mark.parametrize("fields, refused_field", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_field_table(app, client, tenant, form, fields, refused_field):
    user = body_of(fields)
    response = send(client, tenant, form, user)
    if refused_field is not None:
        assert_error(response, 400, "invalid_field", refused_field)
        assert count(app, EndUser) == 0 and count(app, Organization) == 0
        return
    assert response.status_code == 200, response.get_json()
    public = response.get_json()["user"]
    assert public["id"] == str(user["id"])
    for key in ("email", "name", "avatarUrl", "attrs"):
        if key in fields:
            assert public[key] == fields[key]
    [row] = fetch(app, EndUser)
    assert row.external_id == str(user["id"]) and row.verified is (form == "signed")
    if "organizations" in fields:
        assert [o["id"] for o in public["organizations"]] == [str(o["id"]) for o in fields["organizations"]]
        assert count(app, OrgMembership) == len(fields["organizations"])


@pytest.mark.parametrize("form", ["unsigned", "signed"])
def test_missing_id_is_refused(client, tenant, form):
    response = send(client, tenant, form, {"email": "jane@example.com"})
    assert_error(response, 400, "invalid_field", "id")


@pytest.mark.parametrize("form", ["unsigned", "signed"])
def test_twelve_organizations_with_two_duplicates_are_ten(app, client, tenant, form):
    orgs = [org(i) for i in range(10)] + [org(3, "Three again"), org("7", "Seven again")]
    response = send(client, tenant, form, body_of({"organizations": orgs}))
    assert response.status_code == 200, response.get_json()
    listed = response.get_json()["user"]["organizations"]
    assert [o["id"] for o in listed] == ["0", "1", "2", "4", "5", "6", "8", "9", "3", "7"]
    assert {o["id"]: o["name"] for o in listed}["3"] == "Three again"
    assert count(app, Organization) == 10 and count(app, OrgMembership) == 10


def test_signed_nested_user_field_paths(client, tenant, app):
    """Inside `user`, the path says so; extra keys are attrs and follow the attr rules."""
    response = set_user(client, {"jwt": sign({"user": {"id": "u-1", "name": "n" * 256}}, tenant)})
    assert_error(response, 400, "invalid_field", "user.name")
    response = set_user(client, {"jwt": sign({"user": {"id": "u-1", "plan": {"tier": 1}}}, tenant)})
    assert_error(response, 400, "invalid_field", "user.plan")
    assert count(app, EndUser) == 0


def test_unknown_keys_ignored_in_a_token_but_refused_unsigned(app, client, tenant):
    claims = {"id": "u-1", "role": "admin", "organizations": [org(1, slug="acme")]}
    assert set_user(client, {"jwt": sign(claims, tenant)}).status_code == 200
    assert_error(set_user(client, claims), 400, "unknown_field", "role")
    assert_error(set_user(client, {"id": "u-1", "organizations": [org(1, slug="acme")]}),
                 400, "unknown_field", "organizations[0].slug")
