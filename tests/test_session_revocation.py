"""What ends a widget session (docs/SECURITY.md, "What ends a session"), through the real surfaces.

A session made by a key ends when the key is revoked, in every process at once; an unsigned
session ends when the workspace switches to `required` or when its user becomes verified;
"End all sessions" on the user's dashboard page ends every session of that user, the hosted
page's cookie session included. Anonymous visitors, other users and signed sessions are
untouched. The re-check on a bearer request reads nothing new, and a returning verified user's
set-user still writes nothing.
"""
from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import jwt
import pytest
from sqlalchemy import event, select

from webapp.extensions import db
from webapp.models import EndUser
from webapp.services.workspace import tenants

from .conftest import PASSWORD, Factory, make_app, provision
from .helpers import csrf_of, login, post_form
from .servers import HttpClient, Server, migrate


def sign(shop: dict, claims: dict, alg: str = "HS256", ed_key=None) -> str:
    body = {"exp": int(time.time()) + 300, **claims}
    if alg == "EdDSA":
        return jwt.encode(body, ed_key, algorithm="EdDSA", headers={"kid": shop.ed_kid})
    return jwt.encode(body, shop.secret, algorithm="HS256", headers={"kid": shop.secret_kid})


def session_of(client, shop: dict, body: dict) -> str:
    response = client.post(f"/api/v1/widget/{shop.public_id}/set-user", json=body)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["session"]


def reach(client, shop: dict, session: str) -> int:
    """The status of a Bearer request with the session; a refusal must be the contract's 401."""
    response = client.get(f"/api/v1/widget/{shop.public_id}/conversations",
                          headers={"Authorization": f"Bearer {session}"})
    if response.status_code != 200:
        assert (response.status_code, response.get_json()["error"]["code"]) == (401, "session_invalid")
    return response.status_code


def hosted_sign_in(client, shop: dict, claims: dict) -> None:
    code = sign(shop, claims)
    assert client.get(f"/m/{shop.public_id}?externalAuthCode={quote(code)}").status_code == 303


def hosted_signed_in(client, shop: dict) -> bool:
    return "Signed in as" in client.get(f"/m/{shop.public_id}").get_data(as_text=True)


def owner(app, shop: dict):
    client = app.test_client()
    assert login(client, shop.owner, PASSWORD).status_code == 302
    return client


def row_id(app, shop: dict, external_id: str) -> int:
    with app.app_context():
        return db.session.scalar(select(EndUser.id).where(EndUser.tenant_id == shop.id,
                                                          EndUser.external_id == external_id))


@pytest.fixture
def shop(app, ed_key) -> dict:
    return provision(app, ed_key, login_links_enabled=True)


def test_revoking_a_key_ends_its_sessions_in_another_process_at_once(app, shop, ed_key, tmp_path):
    """Two apps on one database, each with its own key cache (as two processes): the key is
    revoked through one's dashboard, and the other refuses the sessions that key made."""
    other = make_app(tmp_path, SECRET_KEY=app.config["SECRET_KEY"])  # the same database file
    widget = other.test_client()
    by_secret = session_of(widget, shop, {"jwt": sign(shop, {"id": "u-1"})})
    by_ed_key = session_of(widget, shop, {"jwt": sign(shop, {"id": "u-2"}, "EdDSA", ed_key)})
    page = other.test_client()
    hosted_sign_in(page, shop, {"user": {"id": "u-3"}})
    assert reach(widget, shop, by_secret) == reach(widget, shop, by_ed_key) == 200  # keys cached there
    assert hosted_signed_in(page, shop)

    dashboard = owner(app, shop)
    response = post_form(dashboard, f"/settings/keys/{shop.secret_kid}/revoke", page="/settings/keys")
    assert response.status_code == 302

    assert reach(widget, shop, by_secret) == 401
    assert not hosted_signed_in(page, shop)  # the login link was signed with the revoked secret
    assert reach(widget, shop, by_ed_key) == 200  # made with another key: untouched
    with other.app_context():
        db.session.remove()
        db.engine.dispose()


def _switch_by_cli(app, shop: dict, mode: str) -> None:
    result = app.test_cli_runner().invoke(args=["signet", "tenant", "set", shop.public_id, "--verification", mode])
    assert result.exit_code == 0, result.output


def _switch_by_page(app, shop: dict, mode: str) -> None:
    with app.app_context():
        audience = tenants.get_tenant(shop.public_id).audience
    # As a browser sends the form: "Allow anonymous visitors" is ticked (the workspace allows them).
    response = post_form(owner(app, shop), "/settings/identity",
                         {"verification_mode": mode, "audience": audience, "anonymous_visitors": "y"})
    assert response.status_code == 302, response.get_data(as_text=True)


@pytest.mark.parametrize("switch", [_switch_by_cli, _switch_by_page], ids=["cli", "settings-page"])
def test_switching_to_required_ends_unsigned_sessions_only(app, shop, switch):
    client = app.test_client()
    unsigned = session_of(client, shop, {"id": "u-1"})
    anonymous = session_of(client, shop, {"id": None})
    signed = session_of(client, shop, {"jwt": sign(shop, {"id": "s-1"})})
    assert reach(client, shop, unsigned) == 200

    switch(app, shop, "required")
    assert reach(client, shop, unsigned) == 401
    assert reach(client, shop, anonymous) == 200  # anonymous visitors still work
    assert reach(client, shop, signed) == 200

    switch(app, shop, "optional")  # ended stays ended
    assert reach(client, shop, unsigned) == 401
    assert reach(client, shop, session_of(client, shop, {"id": "u-1"})) == 200


def test_a_users_first_verification_ends_their_unsigned_sessions(app, shop):
    client = app.test_client()
    unsigned_x = session_of(client, shop, {"id": "x"})
    unsigned_y = session_of(client, shop, {"id": "y"})
    assert reach(client, shop, unsigned_x) == 200

    signed_x = session_of(client, shop, {"jwt": sign(shop, {"id": "x"})})
    assert reach(client, shop, unsigned_x) == 401
    assert reach(client, shop, signed_x) == 200
    assert reach(client, shop, unsigned_y) == 200  # another user's: untouched


def test_end_all_sessions_ends_every_session_of_that_user_only(app, shop, ed_key):
    client, page = app.test_client(), app.test_client()
    x_sessions = [session_of(client, shop, {"jwt": sign(shop, {"id": "x"})}),
                  session_of(client, shop, {"jwt": sign(shop, {"id": "x"}, "EdDSA", ed_key)})]
    hosted_sign_in(page, shop, {"user": {"id": "x"}})
    y_session = session_of(client, shop, {"jwt": sign(shop, {"id": "y"})})
    x = row_id(app, shop, "x")

    dashboard = owner(app, shop)
    assert dashboard.post(f"/users/{x}/end-sessions", data={}).status_code == 400  # no CSRF token: nothing ends
    assert [reach(client, shop, s) for s in x_sessions] == [200, 200]

    response = post_form(dashboard, f"/users/{x}/end-sessions", page=f"/users/{x}", follow_redirects=True)
    assert response.status_code == 200
    assert "Every session of" in response.get_data(as_text=True)
    assert [reach(client, shop, s) for s in x_sessions] == [401, 401]
    assert not hosted_signed_in(page, shop)
    assert reach(client, shop, y_session) == 200
    assert reach(client, shop, session_of(client, shop, {"jwt": sign(shop, {"id": "x"})})) == 200  # a new one works


def test_agents_may_end_sessions_and_no_member_reaches_another_workspace(app, shop):
    client = app.test_client()
    session = session_of(client, shop, {"id": "x"})
    x = row_id(app, shop, "x")
    factory = Factory(app)
    stranger = app.test_client()
    assert login(stranger, factory.tenant("Elsewhere").owner, PASSWORD).status_code == 302
    assert stranger.get(f"/users/{x}").status_code == 404
    assert post_form(stranger, f"/users/{x}/end-sessions", page="/users").status_code == 404
    assert reach(client, shop, session) == 200

    agent = app.test_client()
    assert login(agent, factory.member(shop, "agent"), PASSWORD).status_code == 302
    assert "End all sessions" in agent.get(f"/users/{x}").get_data(as_text=True)
    assert post_form(agent, f"/users/{x}/end-sessions", page=f"/users/{x}").status_code == 303
    assert reach(client, shop, session) == 401


def test_the_recheck_reads_nothing_new_and_a_returning_user_writes_nothing(app, shop):
    """Every statement SQLite runs, traced: a returning verified user's set-user is one read of
    the tenant with the user, and none at all when nothing was committed since the same read (its
    answer is kept, read_connections.memoized); a bearer request re-checks its session in the one
    statement that reads the revocation."""
    client = app.test_client()
    body = {"jwt": sign(shop, {"id": "x", "name": "X"})}
    session = session_of(client, shop, body)
    reach(client, shop, session)  # warm: keys loaded, connections open
    statements: list[str] = []
    with app.app_context():
        db.engine.dispose()  # every connection is opened again, traced
        event.listen(db.engine, "connect", lambda connection, _: connection.set_trace_callback(statements.append))
    session_of(client, shop, body)  # reconnects
    reach(client, shop, session)
    statements.clear()

    session_of(client, shop, body)
    assert statements == ["PRAGMA data_version"], statements  # nothing committed since: nothing read

    session_of(client, shop, {"id": "someone else"})  # a commit (a new user)
    statements.clear()
    session_of(client, shop, body)
    reads = [s for s in statements if s.split()[0].upper() == "SELECT"]
    assert len(reads) == 1 and "FROM tenant t LEFT JOIN end_user u" in reads[0], statements
    assert not [s for s in statements if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE", "BEGIN")]

    statements.clear()
    assert reach(client, shop, session) == 200
    checks = [s for s in statements if "revoked_session" in s]
    assert len(checks) == 1 and "u.sessions_generation" in checks[0], statements
    assert not [s for s in statements if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE")]


def _get(server: Server, tenant_id: str, session: str) -> int:
    request = urllib.request.Request(f"{server.url}/api/v1/widget/{tenant_id}/conversations",
                                     headers={"Authorization": f"Bearer {session}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        assert json.loads(error.read())["error"]["code"] == "session_invalid"
        return error.code


def _set_user(server: Server, tenant_id: str, body: dict) -> str:
    request = urllib.request.Request(f"{server.url}/api/v1/widget/{tenant_id}/set-user",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())["session"]


@pytest.mark.postgres
def test_revoked_key_and_ended_user_sessions_across_served_processes(postgres_url, tmp_path, ed_key):
    """Two served Signet processes on one PostgreSQL: what one ends, the other refuses at once."""
    migrate(postgres_url, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url, SECRET_KEY="k")
    shop = provision(app, ed_key)
    with app.app_context():
        db.session.remove()
        db.engine.dispose()
    env = {"SIGNET_DATABASE_URL": postgres_url, "SIGNET_SECRET_KEY": "k"}
    a, b = Server(env), Server(env)
    try:
        tid = shop.public_id
        by_secret = _set_user(b, tid, {"jwt": sign(shop, {"id": "u-1"})})
        by_ed_key = _set_user(b, tid, {"jwt": sign(shop, {"id": "u-2"}, "EdDSA", ed_key)})
        assert _get(b, tid, by_secret) == _get(b, tid, by_ed_key) == 200

        dashboard = HttpClient(a.url)
        dashboard.post_form("/login", {"email": shop.owner, "password": PASSWORD,
                                       "csrf_token": csrf_of(dashboard.get("/login"))})
        dashboard.post_form(f"/settings/keys/{shop.secret_kid}/revoke",
                            {"csrf_token": csrf_of(dashboard.get("/settings/keys"))})
        assert _get(b, tid, by_secret) == 401
        assert _get(b, tid, by_ed_key) == 200

        with app.app_context():
            u2 = db.session.scalar(select(EndUser.id).where(EndUser.external_id == "u-2"))
        dashboard.post_form(f"/users/{u2}/end-sessions", {"csrf_token": csrf_of(dashboard.get(f"/users/{u2}"))})
        assert _get(b, tid, by_ed_key) == 401
    finally:
        a.stop()
        b.stop()
        with app.app_context():
            db.session.remove()
            db.engine.dispose()
