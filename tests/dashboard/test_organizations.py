"""Organizations: the list with search and member counts, and each organization's page."""
from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from webapp.dashboard import paging
from webapp.extensions import db
from webapp.models import Organization

from .conftest import links, text_of


def org_id(app, external_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(Organization.id).where(Organization.external_id == external_id))


def names_on(html: str) -> list[str]:
    return re.findall(r'<a href="/organizations/\d+">([^<]+)</a>', html)


@pytest.fixture
def orgs(ws):
    acme = {"id": "acme", "name": "Acme Corp", "attrs": {"tier": "gold", "seats": 40}}
    ws.set_user({"id": "a1", "name": "Ann", "organizations": [acme]})
    ws.set_user({"id": "a2", "name": "Al", "organizations": [acme, {"id": "ajax", "name": "ajax ltd"}]})
    ws.set_user({"id": "b1", "name": "Bea", "organizations": [{"id": "bolt", "name": "Bolt"}]})
    return ws


def test_list_by_name_with_member_counts(orgs, staff):
    html = text_of(staff.get("/organizations"))
    assert names_on(html) == ["Acme Corp", "ajax ltd", "Bolt"]  # case-insensitive name order
    counts = re.findall(r"<td>(\d+)</td>", html)
    assert counts == ["2", "1", "1"]
    assert "<code>acme</code>" in html


@pytest.mark.parametrize("q, expected", [
    ("a", ["Acme Corp", "ajax ltd"]), ("AJ", ["ajax ltd"]), ("acme c", ["Acme Corp"]), ("bo", ["Bolt"]),
    ("corp", []),
])
def test_search_by_name_prefix(orgs, staff, q, expected):
    assert names_on(text_of(staff.get(f"/organizations?q={q}"))) == expected


def test_empty_states(ws, staff):
    assert "No organizations yet" in text_of(staff.get("/organizations"))
    ws.set_user({"id": "x", "organizations": [{"id": "o", "name": "Only"}]})
    assert "No organizations match “zz”" in text_of(staff.get("/organizations?q=zz"))


def test_organization_page(app, orgs, staff):
    response = staff.get(f"/organizations/{org_id(app, 'acme')}")
    assert response.status_code == 200
    html = text_of(response)
    assert "<h1>Acme Corp</h1>" in html and "<code>acme</code>" in html
    assert '<th scope="row">tier</th><td>gold</td>' in html and '<th scope="row">seats</th><td>40</td>' in html
    assert "<dt>Members</dt><dd>2</dd>" in html
    members = re.findall(r'<a href="/users/(\d+)">([^<]+)</a>', html)
    assert [name for _, name in members] == ["Ann", "Al"]
    assert staff.get("/organizations/999999").status_code == 404


def test_organization_page_lists_members_by_page(app, ws, staff, monkeypatch):
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    org = {"id": "big", "name": "Big Co"}
    for i in range(5):
        ws.set_user({"id": f"m{i}", "name": f"Member {i}", "organizations": [org]})
    url, seen = f"/organizations/{org_id(app, 'big')}", []
    while url:
        html = text_of(staff.get(url))
        seen.extend(re.findall(r'<a href="/users/\d+">([^<]+)</a>', html))
        url = links(html, "next")
    assert seen == [f"Member {i}" for i in range(5)]


def test_organizations_paginate(ws, staff, monkeypatch):
    monkeypatch.setattr(paging, "PAGE_SIZE", 2)
    ws.set_user({"id": "u", "organizations": [{"id": f"o{i}", "name": f"Org {i}"} for i in range(5)]})
    url, seen = "/organizations", []
    while url:
        html = text_of(staff.get(url))
        seen.extend(names_on(html))
        url = links(html, "next")
    assert seen == [f"Org {i}" for i in range(5)]
    assert names_on(text_of(staff.get("/organizations?page=3"))) == ["Org 4"]


def test_panel_links_to_the_organization(app, orgs, staff):
    session = orgs.sessions["a1"]
    conversation = orgs.start(session)
    html = text_of(staff.get(f"/inbox/{conversation}"))
    assert f'<a href="/organizations/{org_id(app, "acme")}">Acme Corp</a>' in html
