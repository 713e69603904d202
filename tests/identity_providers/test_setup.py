"""Setting a provider up (CLI and service): discovery, refusals at setup, ignored keys, removal
ending sessions, the audit trail, and the returning user's path writing nothing."""
from __future__ import annotations

import json
import threading

import pytest
from sqlalchemy import event, select

from webapp.extensions import db
from webapp.models import AuditEntry, IdentityProvider
from webapp.services.end_users import snapshots

from ..conftest import _served, make_app, provision
from .conftest import add_provider, set_user
from .issuer import new_private, public_jwk


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()
    return lambda *args: runner.invoke(args=["signet", *args])


def test_cli_add_list_remove(app, tenant, issuer, cli):
    issuer.add_key("RS256")
    result = cli("idp", "add", tenant.public_id, "--issuer", issuer.url, "--audience", "client-123",
                 "--attr-claim", "plan", "--name", "Acme Auth")
    assert result.exit_code == 0, result.output
    added = json.loads(result.stdout)
    assert added["id"].startswith("idp_") and added["issuer"] == issuer.url and added["jwks_url"] == issuer.url + "/jwks"
    assert added["discovered"] is True and [k["alg"] for k in added["keys"]] == ["RS256"]
    listed = json.loads(cli("idp", "list", tenant.public_id).stdout)["providers"]
    assert [p["id"] for p in listed] == [added["id"]]
    assert cli("idp", "remove", tenant.public_id, added["id"]).exit_code == 0
    assert json.loads(cli("idp", "list", tenant.public_id).stdout)["providers"] == []
    missing = cli("idp", "remove", tenant.public_id, added["id"])
    assert missing.exit_code == 1 and "No identity provider" in missing.output
    with app.app_context():
        actions = db.session.scalars(select(AuditEntry.action).where(AuditEntry.tenant_id == tenant.id)
                                     .order_by(AuditEntry.id)).all()
    assert actions[-2:] == ["idp.added", "idp.removed"]


def test_a_provider_with_neither_audience_nor_authorized_party_is_refused(app, tenant, issuer, cli):
    issuer.add_key("RS256")
    result = cli("idp", "add", tenant.public_id, "--issuer", issuer.url)
    assert result.exit_code == 1 and "audience" in result.output
    assert issuer.hits == {}  # refused before any call
    with app.app_context():
        assert db.session.scalar(select(IdentityProvider)) is None


def test_discovery_must_name_the_same_issuer(app, tenant, issuer, cli):
    issuer.add_key("RS256")
    issuer.discovery_issuer = "https://accounts.evil.example.com"
    result = cli("idp", "add", tenant.public_id, "--issuer", issuer.url, "--audience", "a")
    assert result.exit_code == 1 and "names issuer" in result.output


def test_an_unreachable_or_empty_jwks_is_refused_at_setup(app, tenant, issuer, cli):
    result = cli("idp", "add", tenant.public_id, "--issuer", issuer.url, "--audience", "a")
    assert result.exit_code == 1 and "no usable signing key" in result.output
    issuer.down = True
    result = cli("idp", "add", tenant.public_id, "--issuer", issuer.url, "--audience", "a",
                 "--jwks-url", issuer.url + "/jwks")
    assert result.exit_code == 1 and "503" in result.output


def test_a_private_address_is_refused_without_the_setting(tmp_path, ed_key, issuer, monkeypatch):
    monkeypatch.delenv("SIGNET_ALLOW_PRIVATE_URLS", raising=False)
    for app in _served(make_app(tmp_path, SIGNET_ALLOW_PRIVATE_URLS=False)):
        tenant = provision(app, ed_key)
        issuer.add_key("RS256")
        port = issuer.url.rsplit(":", 1)[1]
        runner = app.test_cli_runner()
        for args in (["--issuer", f"https://localhost:{port}"],  # a name resolving to 127.0.0.1
                     ["--issuer", "https://example.com", "--jwks-url", f"https://127.0.0.1:{port}/jwks"],
                     ["--issuer", issuer.url]):  # http
            result = runner.invoke(args=["signet", "idp", "add", tenant.public_id, "--audience", "a", *args])
            assert result.exit_code == 1, result.output
            assert "private" in result.output or "https" in result.output
        assert issuer.hits == {}


def test_ignored_keys_are_listed_with_their_reason(app, tenant, issuer):
    good = issuer.add_key("EdDSA")
    issuer.extra = [
        {**public_jwk("RS256", new_private("RS256")), "kid": "enc-1", "use": "enc"},
        {**public_jwk("RS256", new_private("RS256", 1024)), "kid": "small-1"},
        {"kty": "EC", "crv": "P-384", "kid": "p384", "x": "AA", "y": "AA"},
        {**public_jwk("EdDSA", new_private("EdDSA")), "kid": "priv-1", "d": "c2VjcmV0"},
        {**public_jwk("ES256", new_private("ES256")), "kid": "wrong-alg", "alg": "RS256"},
    ]
    found = add_provider(app, tenant, issuer)
    assert [k["kid"] for k in found["keys"]] == [good]
    reasons = {k["kid"]: k["reason"] for k in found["ignored_keys"]}
    assert "encryption" in reasons["enc-1"] and "1024 bits" in reasons["small-1"]
    assert "P-384" in reasons["p384"] and "private" in reasons["priv-1"] and "RS256" in reasons["wrong-alg"]


def test_removing_the_provider_ends_its_sessions(app, tenant, issuer):
    kid = issuer.add_key("RS256")
    found = add_provider(app, tenant, issuer)
    session = set_user(app, tenant, issuer.token(kid)).get_json()["session"]
    bearer = {"Authorization": f"Bearer {session}"}
    assert app.test_client().get(tenant.url("conversations"), headers=bearer).status_code == 200
    with app.app_context():
        from webapp.services.idp import providers
        from webapp.services.workspace import tenants
        providers.remove(tenants.get_tenant(tenant.public_id), found["id"])
    response = app.test_client().get(tenant.url("conversations"), headers=bearer)
    assert response.status_code == 401
    assert set_user(app, tenant, issuer.token(kid, sub="u-2")).status_code == 401


def test_a_returning_verified_user_writes_nothing_and_reads_no_provider_row(app, tenant, issuer, monkeypatch):
    kid = issuer.add_key("ES256")
    add_provider(app, tenant, issuer)
    token = issuer.token(kid, email="jane@example.com", name="Jane")
    assert set_user(app, tenant, token).status_code == 200
    assert set_user(app, tenant, token).status_code == 200  # warm: provider list and keys held
    # A commit (another user), so the call below reads again instead of taking the answers
    # SQLite's read connection kept (read_connections.memoized): what it reads is then seen.
    assert set_user(app, tenant, issuer.token(kid, sub="ann", email="ann@example.com", name="Ann")).status_code == 200
    statements: list[str] = []
    me = threading.get_ident()
    read = snapshots._run

    def reads(statement, params):
        statements.append(statement)
        return read(statement, params)

    def record(conn, cursor, statement, *args):
        if threading.get_ident() == me:
            statements.append(statement)

    monkeypatch.setattr(snapshots, "_run", reads)
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        assert set_user(app, tenant, issuer.token(kid, email="jane@example.com", name="Jane")).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", record)
    writes = [s for s in statements if s.lstrip().split()[0].upper() in ("INSERT", "UPDATE", "DELETE", "REPLACE")]
    assert statements and writes == [] and not any("identity_provider" in s for s in statements)
    assert issuer.jwks_hits == 1


@pytest.mark.parametrize("suffix", ["?x=1", "#f", "/?"])
def test_an_issuer_with_a_query_or_fragment_is_refused_before_any_call(app, tenant, issuer, cli, suffix):
    issuer.add_key("RS256")
    result = cli("idp", "add", tenant.public_id, "--issuer", issuer.url + suffix, "--audience", "a")
    assert result.exit_code == 1 and "no query (?…) or fragment (#…)" in result.output
    assert issuer.hits == {}
    with app.app_context():
        assert db.session.scalar(select(IdentityProvider)) is None
