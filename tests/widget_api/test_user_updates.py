"""How a later set-user changes a stored user (API.md §3): complete lists, null clears, omitted keeps."""
from __future__ import annotations

import pytest

from webapp.models import EndUser, Organization, OrgMembership

from .conftest import count, fetch, identify, sign


def org(i, name=None, **extra):
    return {"id": i, "name": name or f"Org {i}", **extra}


@pytest.fixture(params=["unsigned", "signed"])
def update(request, client, tenant):
    """set-user for one user, as unsigned data or as a token (each test uses one form throughout)."""
    def send(user_id="u-1", **fields):
        body = {"id": user_id, **fields}
        if request.param == "signed":
            body = {"jwt": sign(body, tenant)}
        return identify(client, body)["user"]
    return send


def stored_orgs(app, external_id="u-1") -> list[tuple[str, str, dict]]:
    """The user's organizations in stored order: (id, name, attrs)."""
    [user] = fetch(app, EndUser, EndUser.external_id == external_id)
    rows = fetch(app, OrgMembership, OrgMembership.user_id == user.id)
    orgs = {o.id: o for o in fetch(app, Organization)}
    return [(orgs[m.organization_id].external_id, orgs[m.organization_id].name, orgs[m.organization_id].attrs)
            for m in sorted(rows, key=lambda m: m.position)]


def ids(user) -> list[str]:
    return [o["id"] for o in user["organizations"]]


def test_organizations_is_the_complete_list(app, update):
    assert ids(update(organizations=[org("a"), org("b"), org("c")])) == ["a", "b", "c"]
    user = update(organizations=[org("c"), org("d")])
    assert ids(user) == ["c", "d"]
    assert [o[0] for o in stored_orgs(app)] == ["c", "d"]
    assert count(app, Organization) == 4  # a and b stay, only the memberships went
    assert ids(update(name="Jane")) == ["c", "d"]  # key omitted: memberships kept
    assert ids(update(organizations=[])) == [] and count(app, OrgMembership) == 0
    update(organizations=[org("a")])
    assert ids(update(organizations=None)) == [] and count(app, OrgMembership) == 0
    assert count(app, Organization) == 4


def test_duplicates_last_one_wins_in_its_place(app, update):
    user = update(organizations=[org(1, "First", attrs={"tier": 1}), org("2", "Two"), org("1", "Last")])
    assert user["organizations"] == [{"id": "2", "name": "Two", "attrs": {}}, {"id": "1", "name": "Last", "attrs": {}}]
    assert stored_orgs(app) == [("2", "Two", {}), ("1", "Last", {})]
    assert count(app, Organization) == 2


def test_reordering_is_stored(app, update):
    update(organizations=[org("a"), org("b"), org("c")])
    assert ids(update(organizations=[org("c"), org("a"), org("b")])) == ["c", "a", "b"]
    assert [o[0] for o in stored_orgs(app)] == ["c", "a", "b"]


def test_an_organization_takes_the_name_and_attrs_of_the_latest_call(app, update):
    update("u-1", organizations=[org("acme", "Acme", attrs={"plan": "free"})])
    update("u-2", organizations=[org("acme", "Acme Corp", attrs={"plan": "pro"}), org("side")])
    assert stored_orgs(app, "u-1") == [("acme", "Acme Corp", {"plan": "pro"})]
    update("u-2", organizations=[org("acme", "Acme Inc")])  # attrs left out: kept
    assert stored_orgs(app, "u-1") == [("acme", "Acme Inc", {"plan": "pro"})]
    update("u-2", organizations=[org("acme", "Acme Inc", attrs=None)])  # null: cleared
    assert stored_orgs(app, "u-1") == [("acme", "Acme Inc", {})]
    update("u-2", organizations=[])  # removed from u-2, kept for u-1 and as an organization
    assert stored_orgs(app, "u-1") == [("acme", "Acme Inc", {})] and count(app, Organization) == 2


def test_null_clears_and_omitted_keeps(app, update):
    full = {"email": "jane@example.com", "name": "Jane", "avatarUrl": "https://cdn.example.com/j.png",
            "attrs": {"plan": "pro", "seats": 3}}
    assert {k: v for k, v in update(**full).items() if k in full} == full
    kept = update()
    assert {k: kept[k] for k in full} == full
    update(name="Jane Doe")
    [row] = fetch(app, EndUser)
    assert (row.email, row.name, row.avatar_url, row.attrs) == (full["email"], "Jane Doe", full["avatarUrl"],
                                                                 full["attrs"])
    cleared = update(email=None, name=None, avatarUrl=None, attrs=None)
    assert (cleared["email"], cleared["name"], cleared["avatarUrl"], cleared["attrs"]) == (None, None, None, {})
    [row] = fetch(app, EndUser)
    assert (row.email, row.name, row.avatar_url, row.attrs or {}) == (None, None, None, {})


def test_attrs_replace_the_stored_set(app, update):
    update(attrs={"plan": "pro", "seats": 3})
    assert update(attrs={"plan": "team"})["attrs"] == {"plan": "team"}
    [row] = fetch(app, EndUser)
    assert row.attrs == {"plan": "team"}


def test_attrs_keep_their_json_types(app, update):
    """true is not 1 and 1.0 is not 1 in JSON, though Python's == says they are: each change is stored,
    for the user, for an organization, and when a new organization list comes with it."""
    for beta in (1, True, 1.0, 1):
        user = update(attrs={"beta": beta}, organizations=[org("o-1", attrs={"beta": beta})])
        assert type(user["attrs"]["beta"]) is type(beta) and type(user["organizations"][0]["attrs"]["beta"]) is type(beta)
        [row] = fetch(app, EndUser)
        assert type(row.attrs["beta"]) is type(beta)
        assert type(stored_orgs(app)[0][2]["beta"]) is type(beta)


def test_integer_and_string_ids_are_the_same_user(app, update):
    update(123, name="Int")
    user = update("123", email="int@example.com")
    assert user["id"] == "123" and user["name"] == "Int"
    assert count(app, EndUser) == 1
