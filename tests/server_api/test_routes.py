"""Every server API route: its success, each error code, tenant isolation on every route, scopes,
revocation at once (also by another process), and pagination that stays stable under inserts."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import event, select

from webapp.extensions import db
from webapp.models import ApiKey

from ..conftest import provision
from .conftest import Api, make_key

ROOT = Path(__file__).resolve().parents[2]


def seed(api: Api, workspace) -> str:
    """A user u-1 (with an organization o-1) and one of their conversations; its id."""
    assert api.put("/users/u-1", json={"email": "u1@example.com", "name": "U One",
                                       "organizations": [{"id": "o-1", "name": "Org One"}]}).status_code == 201
    session = workspace.signed_user({"id": "u-1"})["session"]
    return workspace.start(session, "Hello from u-1")


# (method, path, body) for every route, with the seeded ids; {c} is the conversation id.
ROUTES = [
    ("GET", "/users", None), ("GET", "/users/u-1", None), ("PUT", "/users/u-1", {"name": "New"}),
    ("GET", "/users/u-1/export", None), ("DELETE", "/users/u-1", None),
    ("GET", "/organizations", None), ("GET", "/organizations/o-1", None),
    ("PUT", "/organizations/o-1", {"name": "Renamed"}), ("DELETE", "/organizations/o-1", None),
    ("GET", "/conversations", None), ("GET", "/conversations/{c}", None),
    ("POST", "/conversations/{c}/messages", {"body": "Hi", "staffName": "Ada"}),
    ("POST", "/conversations/{c}/close", None), ("POST", "/conversations/{c}/reopen", None),
]
WRITES = [r for r in ROUTES if r[0] != "GET"]


def call(api: Api, route, conversation: str, key: str | None = None):
    method, path, body = route
    kwargs = {"json": body} if body is not None else {}
    return api.open(method, path.format(c=conversation), key=key, **kwargs)


def test_users(api, workspace):
    conversation = seed(api, workspace)
    got = api.get("/users/u-1").get_json()
    assert got["id"] == "u-1" and got["verified"] is True and got["howVerified"].startswith("token")
    assert got["organizations"] == [{"id": "o-1", "name": "Org One", "attrs": {}}]
    assert {"createdAt", "lastSeenAt"} <= set(got)
    # upsert: same field rules as set-user; 200 on update, 201 on create; verified "server API"
    updated = api.put("/users/u-1", json={"attrs": {"plan": "pro"}, "organizations": []})
    assert updated.status_code == 200 and updated.get_json()["attrs"] == {"plan": "pro"}
    assert updated.get_json()["organizations"] == []
    made = api.put("/users/42", json={"email": "x@example.com"}).get_json()
    assert made["id"] == "42" and made["verified"] is True and made["howVerified"] == "server API"
    assert api.put("/users/email:x@example.com", json={}).status_code == 201  # the server may name reserved ids
    # search
    assert [u["id"] for u in api.get("/users?q=u-").get_json()["data"]] == ["u-1"]
    assert [u["id"] for u in api.get("/users?email=X@EXAMPLE.com").get_json()["data"]] == ["42"]
    assert len(api.get("/users?verified=true").get_json()["data"]) == 3
    assert api.get("/users?verified=false").get_json() == {"data": [], "next": None}
    assert api.put("/users/u-2", json={"organizations": [{"id": "o-2", "name": "Two"}]}).status_code == 201
    assert [u["id"] for u in api.get("/users?organization=o-2").get_json()["data"]] == ["u-2"]
    export = api.get("/users/u-1/export").get_json()
    assert export["user"]["id"] == "u-1" and export["conversations"][0]["id"] == conversation
    assert export["conversations"][0]["messages"][0]["body"] == "Hello from u-1"
    assert {"firstSeenAt", "lastSeenAt"} <= set(export["sessions"]) and export["verification"]["state"] == "verified"
    gone = api.delete("/users/u-1")
    assert gone.status_code == 200 and gone.get_json()["deleted"]["users"] == 1
    assert gone.get_json()["deleted"]["conversations"] == 1 and gone.get_json()["deleted"]["messages"] == 1
    assert api.get("/users/u-1").status_code == 404


def test_organizations(api, workspace):
    seed(api, workspace)
    assert api.get("/organizations/o-1").get_json()["memberCount"] == 1
    made = api.put("/organizations/o-9", json={"name": "Nine", "attrs": {"tier": 2}})
    assert made.status_code == 201 and made.get_json()["attrs"] == {"tier": 2}
    assert api.put("/organizations/o-9", json={"name": "Nine!"}).get_json()["attrs"] == {"tier": 2}
    assert [o["id"] for o in api.get("/organizations").get_json()["data"]] == ["o-1", "o-9"]
    removed = api.delete("/organizations/o-1")
    assert removed.get_json() == {"deleted": {"organizations": 1, "memberships": 1}}
    assert api.get("/users/u-1").get_json()["organizations"] == []  # the user stays
    assert api.get("/organizations/o-1").status_code == 404


def test_conversations(api, workspace):
    conversation = seed(api, workspace)
    listed = api.get("/conversations?status=open&user=u-1").get_json()
    assert [c["id"] for c in listed["data"]] == [conversation] and listed["data"][0]["user"]["id"] == "u-1"
    assert api.get("/conversations?status=closed").get_json()["data"] == []
    posted = api.post(f"/conversations/{conversation}/messages", json={"body": "We are on it", "staffName": "Ada Bot"})
    assert posted.status_code == 201 and posted.get_json()["staffName"] == "Ada Bot"
    # the end user sees it through the widget
    assert workspace.widget_messages(workspace.sessions["u-1"], conversation)[-1]["body"] == "We are on it"
    assert api.post(f"/conversations/{conversation}/close").get_json()["status"] == "closed"
    assert api.post(f"/conversations/{conversation}/close").status_code == 409
    assert api.post(f"/conversations/{conversation}/close").get_json()["error"]["code"] == "conflict"
    assert api.post(f"/conversations/{conversation}/reopen").get_json()["status"] == "open"
    got = api.get(f"/conversations/{conversation}").get_json()
    assert [m["author"] for m in got["messages"]] == ["user", "staff"]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "Basic x"},
                                     {"Authorization": "Bearer sk_live_0123456789abcdef_" + "A" * 43}])
def test_unauthorized(app, headers):
    response = app.test_client().get("/api/v1/server/users", headers=headers)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "unauthorized"


def test_wrong_secret_with_a_real_key_id(api):
    forged = api.key[:-4] + ("AAAA" if not api.key.endswith("AAAA") else "BBBB")
    assert api.get("/users", key=forged).status_code == 401


def test_error_codes(api, workspace):
    conversation = seed(api, workspace)
    assert api.get("/users/nobody").get_json()["error"]["code"] == "not_found"
    assert api.get("/conversations/conv_x").status_code == 404
    assert api.get("/organizations/none").status_code == 404
    bad = api.put("/users/u-1", json={"avatar_url": "https://x"})
    assert bad.status_code == 400 and bad.get_json()["error"] == {
        "code": "unknown_field", "field": "avatar_url", "message": bad.get_json()["error"]["message"]}
    assert api.put("/users/u-1", json={"email": "not an email"}).get_json()["error"]["field"] == "email"
    assert api.put("/users/u-1", json={"id": "u-2"}).get_json()["error"]["field"] == "id"
    assert api.put("/users/u-1", data="{", content_type="application/json").get_json()["error"]["code"] == "invalid_json"
    assert api.put("/users/u-1", data="{}", content_type="text/plain").status_code == 415
    assert api.put("/users/u-1", data="x" * 70_000, content_type="application/json").status_code == 413
    assert api.put("/organizations/o-1", json={}).get_json()["error"]["field"] == "name"
    assert api.post(f"/conversations/{conversation}/messages", json={"body": ""}).get_json()["error"]["field"] == "body"
    assert api.post(f"/conversations/{conversation}/messages", json={"body": "x", "staffName": 3}).status_code == 400
    for query in ("cursor=%%%", "cursor=" + "A" * 100, "verified=yes", "limit=0", "limit=101", "status=gone"):
        path = "/conversations?" + query if query.startswith("status") else "/users?" + query
        answer = api.get(path)
        assert answer.status_code == 400 and answer.get_json()["error"]["code"] == "invalid_field", query


def test_not_for_browsers(api, workspace):
    """No CORS headers at all (also for a preflight), no cookie, never cached."""
    seed(api, workspace)
    for response in (api.get("/users", headers={"Origin": "https://app.example.com"}),
                     api.open("OPTIONS", "/users", headers={"Origin": "https://app.example.com",
                                                            "Access-Control-Request-Method": "GET"})):
        assert not [h for h in response.headers.keys() if h.lower().startswith("access-control-")]
        assert "Set-Cookie" not in response.headers
    assert api.get("/users").headers["Cache-Control"] == "no-store"


@pytest.mark.parametrize("route", ROUTES, ids=[f"{m} {p}" for m, p, _ in ROUTES])
def test_a_key_never_reaches_another_workspace(api, other_api, workspace, route):
    """Tenant B's key, on every route, with tenant A's ids: 404 (or an empty list), and A unchanged."""
    conversation = seed(api, workspace)
    before = api.get("/users/u-1/export").get_json()
    answer = call(other_api, route, conversation)
    if route[1] in ("/users", "/organizations", "/conversations"):
        assert answer.status_code == 200 and answer.get_json()["data"] == []
    elif route[0] == "PUT":  # creates B's own record under that id, never touches A's
        assert answer.status_code == 201
    else:
        assert answer.status_code == 404, answer.get_json()
    assert api.get("/users/u-1/export").get_json() == before
    assert api.get("/organizations/o-1").get_json()["name"] == "Org One"


@pytest.mark.parametrize("route", WRITES, ids=[f"{m} {p}" for m, p, _ in WRITES])
def test_a_read_key_cannot_write(api, read_api, workspace, route):
    conversation = seed(api, workspace)
    before = api.get("/users/u-1/export").get_json()
    answer = call(read_api, route, conversation)
    assert answer.status_code == 403 and answer.get_json()["error"]["code"] == "forbidden_scope"
    assert api.get("/users/u-1/export").get_json() == before


def test_read_key_reads(api, read_api, workspace):
    seed(api, workspace)
    assert read_api.get("/users/u-1").status_code == 200 and read_api.get("/users/u-1/export").status_code == 200


def test_revoked_key_refused_at_once_by_another_process(app, api, tmp_path):
    """`signet apikey revoke` in a separate process (the CLI, same database file): this process's
    very next request with the key is 401 (the key's row is read on every request, no cache)."""
    assert api.get("/users").status_code == 200
    env = {**os.environ, "SIGNET_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "SIGNET_SECRET_KEY": "another-process"}
    done = subprocess.run([sys.executable, "-m", "flask", "--app", "wsgi", "signet", "apikey", "revoke",
                           api.workspace.public_id, api.key_id], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert '"revoked_at":"' in done.stdout
    assert api.get("/users").status_code == 401


def test_last_used_is_coalesced(app, api):
    """The first request records last use; the next ones within a minute write nothing."""
    def last_used():
        with app.app_context():
            value = db.session.scalar(select(ApiKey.last_used_at).where(ApiKey.public_id == api.key_id))
            db.session.remove()
            return value

    assert last_used() is None
    api.get("/users")
    first = last_used()
    assert first is not None
    for _ in range(5):
        api.get("/users")
    assert last_used() == first


def test_rate_limited_per_key(app, api, workspace):
    app.config["SIGNET_SERVER_RATELIMIT"] = "3/minute"
    other_key, _ = make_key(app, workspace.public_id, "read", "second")
    assert [api.get("/users").status_code for _ in range(4)] == [200, 200, 200, 429]
    limited = api.get("/users")
    assert limited.get_json()["error"]["code"] == "rate_limited" and int(limited.headers["Retry-After"]) >= 1
    assert api.get("/users", key=other_key).status_code == 200  # per key


@pytest.mark.parametrize("resource", ["users", "organizations", "conversations"])
def test_pagination_is_stable_while_inserting(api, workspace, resource):
    """Walk a list 3 at a time while new rows arrive between pages: every row that existed at the
    start is seen exactly once, never twice."""
    def add(n: int):
        if resource == "users":
            api.put(f"/users/p-{n}", json={})
        elif resource == "organizations":
            api.put(f"/organizations/p-{n}", json={"name": f"P {n}"})
        else:
            workspace.start(workspace.signed_user({"id": f"p-{n}"})["session"], f"hello {n}")

    for n in range(10):
        add(n)
    existing = {row["id"] for row in _all(api, resource)}
    seen, cursor, n = [], None, 100
    while True:
        page = api.get(f"/{resource}?limit=3" + (f"&cursor={cursor}" if cursor else "")).get_json()
        seen += [row["id"] for row in page["data"]]
        add(n)
        n += 1
        cursor = page["next"]
        if cursor is None:
            break
    assert len(seen) == len(set(seen))
    assert existing <= set(seen)


def _all(api, resource) -> list[dict]:
    return api.get(f"/{resource}?limit=100").get_json()["data"]


def test_cli_create_and_revoke(app, workspace):
    import json

    runner = app.test_cli_runner()
    made = runner.invoke(args=["signet", "apikey", "create", workspace.public_id, "--name", "ci", "--scope", "write"])
    assert made.exit_code == 0, made.output
    data = json.loads(made.output)
    assert data["key"].startswith("sk_live_") and data["id"].startswith("ak_") and data["scope"] == "write"
    api = Api(app, data["key"], workspace)
    assert api.put("/users/cli", json={}).status_code == 201
    listed = json.loads(runner.invoke(args=["signet", "apikey", "list", workspace.public_id]).output)
    assert "key" not in listed["keys"][0] and data["key"] not in made.output.replace(data["key"], "", 1)
    revoked = runner.invoke(args=["signet", "apikey", "revoke", workspace.public_id, data["id"]])
    assert revoked.exit_code == 0 and api.get("/users").status_code == 401
    with app.app_context():
        row = db.session.scalar(select(ApiKey).where(ApiKey.public_id == data["id"]))
        assert row.key_hash != data["key"] and data["key"] not in repr(row.__dict__)
    bad = runner.invoke(args=["signet", "apikey", "create", workspace.public_id, "--name", " "])
    assert bad.exit_code == 1 and "name" in bad.output
    unknown = runner.invoke(args=["signet", "apikey", "revoke", workspace.public_id, "ak_nope"])
    assert unknown.exit_code == 1


@pytest.fixture
def pg_api(postgres_app, ed_key) -> Api:
    made = provision(postgres_app, ed_key, "Acme")
    key, _ = make_key(postgres_app, made.public_id)
    return Api(postgres_app, key, made)


@pytest.mark.parametrize("resource", ["users", "organizations", "conversations"])
def test_a_cursor_past_the_id_column_is_400_on_postgres(pg_api, resource):
    """A well-formed cursor naming an id past the 32-bit id columns: 400 on `cursor`, never a
    500 from PostgreSQL's "integer out of range"."""
    import base64

    cursor = base64.urlsafe_b64encode(f"v1:{2**40}".encode()).decode().rstrip("=")
    answer = pg_api.get(f"/{resource}?cursor={cursor}")
    assert answer.status_code == 400 and answer.get_json()["error"]["field"] == "cursor"


def test_a_reply_reads_its_conversation_once(app, api, workspace):
    """POST …/messages finds the conversation once, under the lock the reply takes: no unlocked
    read before it (the same lookup done twice, the first one stale by the time of the write)."""
    from sqlalchemy import event

    conversation = seed(api, workspace)
    with app.app_context():
        engine = db.engine
    reads = []

    def _count(_conn, _cursor, statement, _params, _context, _many):
        if statement.lstrip().upper().startswith("SELECT") and "FROM conversation" in statement:
            reads.append(statement)

    event.listen(engine, "before_cursor_execute", _count)
    try:
        posted = api.post(f"/conversations/{conversation}/messages", json={"body": "On it"})
    finally:
        event.remove(engine, "before_cursor_execute", _count)
    assert posted.status_code == 201 and posted.get_json()["body"] == "On it"
    assert len(reads) == 1, reads
    assert api.post("/conversations/conv_nope/messages", json={"body": "x"}).status_code == 404


def test_an_upsert_reads_the_user_once_and_writes_it_once(app, api):
    """PUT /users/<id> on an existing user: one locked read of the user and one UPDATE of the row
    (its last_seen is the user's own: the server writing about them does not move it)."""
    assert api.put("/users/u", json={"name": "A", "organizations": [{"id": "o", "name": "O"}]}).status_code == 201
    seen = api.get("/users/u").get_json()["lastSeenAt"]
    sent = []

    def record(_conn, _cursor, statement, *_args):
        sent.append(" ".join(statement.split()[:4]).upper())

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        updated = api.put("/users/u", json={"name": "B"})
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert updated.status_code == 200 and updated.get_json()["name"] == "B"
    assert updated.get_json()["lastSeenAt"] == seen == api.get("/users/u").get_json()["lastSeenAt"]
    user_reads = [s for s in sent if s.startswith("SELECT END_USER.")]
    assert len(user_reads) == 1, sent
    assert [s for s in sent if s.startswith("UPDATE END_USER")] == ["UPDATE END_USER SET NAME=?,"], sent
