"""Users: prefix search on id, email and name, filters, keyset pagination, the CSV export."""
from __future__ import annotations

import csv
import io
import re

import pytest

from webapp.dashboard import paging
from webapp.dashboard.users import search

from .conftest import ago, links, text_of


def ids_on(client, url: str) -> list[str]:
    return re.findall(r'<td><code>([^<]+)</code></td>', text_of(client.get(url)))


@pytest.fixture
def people(ws):
    """Four identified users and one visitor, seen in a known order (newest first: u-4 … u-1)."""
    ws.set_user({"id": "User-1", "email": "Jane.Doe@Example.com", "name": "Jane Doe"})
    ws.set_user({"id": "u-2", "email": "bob@example.com", "name": "Bob Builder"})
    ws.signed_user({"id": "u-3", "email": "carol@corp.example", "name": "Carol Jane"})
    ws.login_link_user({"id": "u-4", "email": "dan@example.com", "name": "Émile Dan"})
    visitor = ws.set_user({"id": None})
    ws.start(visitor["session"])  # a visitor gets a row once they write
    for n, external_id in enumerate(["User-1", "u-2", "u-3", "u-4"]):
        ws.set_seen(external_id, ago(hours=10 - n))
    return ws


@pytest.mark.parametrize("narrow", [True, False], ids=["few-matches", "many-matches"])
@pytest.mark.parametrize("q, expected", [
    ("User-1", ["User-1"]),  # id prefix, exact case
    ("user-1", []),  # ids are case-sensitive, and no email or name starts with it
    ("u-", ["u-4", "u-3", "u-2"]),
    ("jane", ["User-1"]),  # email and name start with it; "Carol Jane" does not
    ("JANE.DOE@", ["User-1"]),  # email, any case
    ("bob@", ["u-2"]),
    ("bob b", ["u-2"]),  # name prefix with a space
    ("Car", ["u-3"]),
    ("Émile", ["u-4"]),
    ("zzz", []),
])
def test_search_by_prefix(people, staff, monkeypatch, q, expected, narrow):
    if not narrow:  # exercise the many-matches path: a window first, then all matching ids sorted
        monkeypatch.setattr(search, "NARROW", 0)
        monkeypatch.setattr(paging, "WINDOW", 1)
    assert ids_on(staff, f"/users?q={q}") == expected


def test_filters(people, staff):
    assert ids_on(staff, "/users?filter=verified") == ["u-4", "u-3"]
    assert ids_on(staff, "/users?filter=unverified") == ["u-2", "User-1"]
    assert ids_on(staff, "/users?filter=login_link") == ["u-4"]
    html = text_of(staff.get("/users?filter=anonymous"))
    assert ids_on(staff, "/users?filter=anonymous") == [] and "Anonymous visitor" in html
    assert ids_on(staff, "/users?filter=verified&q=ca") == ["u-3"]
    assert staff.get("/users?filter=admins").status_code == 400


def test_all_users_newest_first_including_visitors(people, staff):
    html = text_of(staff.get("/users"))
    assert re.findall(r'<td><code>([^<]+)</code></td>', html) == ["u-4", "u-3", "u-2", "User-1"]
    assert html.count("<tr>") == 1 + 5  # header + five users (the visitor has no id cell)
    assert html.index("Anonymous visitor") < html.index("<code>u-4</code>")  # seen just now


def test_empty_and_no_match_messages(ws, staff):
    assert "No users yet" in text_of(staff.get("/users"))
    ws.set_user({"id": "someone"})
    assert "No users match “nobody”" in text_of(staff.get("/users?q=nobody"))


def walk(client, url: str) -> tuple[list[str], list[str]]:
    """Follow Next links to the end, then Previous links back: the ids seen each way."""
    forward, pages = [], []
    while url:
        html = text_of(client.get(url))
        pages.append(url)
        forward.extend(re.findall(r'<td><code>([^<]+)</code></td>', html))
        url = links(html, "next")
    backward, url = [], links(text_of(client.get(pages[-1])), "prev")
    while url:
        html = text_of(client.get(url))
        backward = re.findall(r'<td><code>([^<]+)</code></td>', html) + backward
        url = links(html, "prev")
    last = re.findall(r'<td><code>([^<]+)</code></td>', text_of(client.get(pages[-1])))
    return forward, backward + last


@pytest.fixture
def many(ws, monkeypatch):
    """23 users in pages of 5; several share a last-seen time, so the id must break ties."""
    monkeypatch.setattr(paging, "PAGE_SIZE", 5)
    for i in range(23):
        ws.set_user({"id": f"p-{i:02d}", "email": f"p{i:02d}@example.com"})
        ws.set_seen(f"p-{i:02d}", ago(minutes=100 - (i // 3)))  # three by three the same time
    return [f"p-{i:02d}" for i in range(23)]


def test_cursor_pagination_visits_everyone_once_both_ways(many, staff):
    forward, backward = walk(staff, "/users")
    assert sorted(forward) == many and len(forward) == 23
    assert backward == forward
    html = text_of(staff.get("/users"))
    assert 'aria-label="User pages"' in html and "Page 1" in html
    assert "Page 2" in text_of(staff.get(links(html, "next")))


def test_page_number_matches_cursor_pages(many, staff):
    forward, _ = walk(staff, "/users")
    for page in range(1, 6):
        assert ids_on(staff, f"/users?page={page}") == forward[(page - 1) * 5: page * 5]
    assert ids_on(staff, "/users?page=6") == []
    # Deep page links continue by cursor from there.
    html = text_of(staff.get("/users?page=4"))
    assert "after=" in links(html, "next") and "before=" in links(html, "prev")
    assert ids_on(staff, links(html, "next")) == forward[20:]
    assert ids_on(staff, links(html, "prev")) == forward[10:15]


@pytest.mark.parametrize("narrow", [True, False], ids=["few-matches", "many-matches"])
def test_search_results_paginate(many, staff, monkeypatch, narrow):
    if not narrow:
        monkeypatch.setattr(search, "NARROW", 0)
        monkeypatch.setattr(paging, "WINDOW", 3)
    forward, backward = walk(staff, "/users?q=p-1")
    assert sorted(forward) == [f"p-1{i}" for i in range(10)]
    assert backward == forward
    assert ids_on(staff, "/users?q=P1&page=2") == forward[5:]  # email, any case


def forged(values, number=2) -> str:
    import base64
    import json

    return base64.urlsafe_b64encode(json.dumps({"k": values, "p": number}).encode()).decode().rstrip("=")


@pytest.mark.parametrize("bad", [
    "page=0", "page=-1", "page=x", "page=99999999999", "after=!!!", "after=eyJrIjpbXX0", "before=bm90IGpzb24",
    f"after={forged([1, 2])}",  # an int where a time belongs
    f"after={forged([{'t': '2024-01-01T00:00:00'}, 2])}",  # a time without a zone
    f"after={forged([{'t': '2024-01-01T00:00:00+00:00'}, True])}",  # a boolean id
    f"before={forged([{'t': '2024-01-01T00:00:00+00:00'}])}",  # too few values
    f"after={forged({'a': 1})}",
])
@pytest.mark.parametrize("path", ["/users", "/inbox", "/organizations"])
def test_bad_page_arguments_are_400(ws, staff, bad, path):
    assert staff.get(f"{path}?{bad}").status_code == 400


def test_forged_cursor_of_the_wrong_shape_for_organizations_is_400(ws, staff):
    assert staff.get(f"/organizations?after={forged([{'t': '2024-01-01T00:00:00+00:00'}, 2])}").status_code == 400
    assert staff.get(f"/organizations?after={forged(['acme', 2])}").status_code == 200


def test_csv_export(people, staff):
    response = staff.get("/users.csv?q=u-")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and response.mimetype_params.get("charset") == "utf-8"
    assert response.headers["Content-Disposition"] == 'attachment; filename="users.csv"'
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["user_id", "email", "name", "status", "verified_how", "created_via", "first_seen_at",
                       "last_seen_at", "organizations", "attrs"]
    assert [r[0] for r in rows[1:]] == ["u-4", "u-3", "u-2"]
    by_id = {r[0]: r for r in rows[1:]}
    assert by_id["u-3"][3:6] == ["verified", f"token, EdDSA, key {people.ed_kid}", "widget"]
    assert by_id["u-4"][3:6] == ["verified", f"login link, HS256, secret {people.secret_kid}", "login_link"]
    assert by_id["u-2"][1:4] == ["bob@example.com", "Bob Builder", "unverified"]

    everyone = list(csv.reader(io.StringIO(staff.get("/users.csv").get_data(as_text=True))))
    assert len(everyone) == 1 + 5 and ["", "", "", "anonymous"] == everyone[1][:4]
    verified = list(csv.reader(io.StringIO(staff.get("/users.csv?filter=verified").get_data(as_text=True))))
    assert [r[0] for r in verified[1:]] == ["u-4", "u-3"]


def test_csv_streams_in_batches(many, staff, monkeypatch):
    from webapp.dashboard.users import directory

    monkeypatch.setattr(directory, "EXPORT_BATCH", 4)
    response = staff.get("/users.csv")
    assert response.is_streamed
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert sorted(r[0] for r in rows[1:]) == many


@pytest.mark.parametrize("value", ["=HYPERLINK(\"https://evil.example\")", "+1+1", "-2+3", "@SUM(A1)", "\tx", "\rx"])
def test_csv_neutralizes_formulas(ws, staff, value):
    ws.set_user({"id": value, "name": value, "attrs": {"k": value},
                 "organizations": [{"id": "o", "name": value}]})
    rows = list(csv.reader(io.StringIO(staff.get("/users.csv").get_data(as_text=True))))
    user_id, _, name, *_, orgs, attrs = rows[1]
    assert user_id == "'" + value and name == "'" + value and orgs.startswith("'" + value)
    assert attrs.startswith("{")  # JSON starts with a brace: nothing to neutralize
    for cell in rows[1]:
        assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))


def test_csv_needs_a_login(app, ws):
    response = app.test_client().get("/users.csv")
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_successor_bounds():
    assert search.successor("abc") == "abd"
    assert search.successor("a\U0010ffff") == "b"
    assert search.successor("\U0010ffff") is None
    assert search.successor("\ud7ff") == "\ue000"
