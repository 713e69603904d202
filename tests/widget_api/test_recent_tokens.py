"""The widget's set-user keeps the tokens it verified lately (services/keys/tokens._recent) and
the visitor ids it checked: the same rules hold on every call, through the HTTP surface."""
from __future__ import annotations

import time

import pytest

from webapp.identity.errors import TokenRefused
from webapp.services.end_users import snapshots
from webapp.services.keys import keyring, tokens
from webapp.services.workspace import tenants

from .conftest import assert_error, identify, set_user, settings


def test_a_kept_token_stops_at_once_when_its_key_is_revoked(app, tenant, client):
    for alg in ("EdDSA", "HS256"):
        token = tenant.sign({"id": f"kept-{alg}", "name": "Kept"}, alg)
        identify(client, {"jwt": token})
        identify(client, {"jwt": token})  # now kept by this process
        with app.app_context():
            keyring.revoke(tenants.get_tenant(tenant.public_id), tenant.key(alg).kid)
        assert_error(set_user(client, {"jwt": token}), 401, "token_unknown_key")


def test_a_kept_token_is_refused_once_expired_and_when_the_audience_becomes_required(app, tenant, client):
    token = tenant.sign({"id": "kept"}, "EdDSA", ttl=120)
    identify(client, {"jwt": token})
    with app.test_request_context():
        info = snapshots.tenant(tenant.public_id)
        assert tokens.verify(info, token).kid == tenant.ed_kid  # kept, verified again
        exp = tokens.verify(info, token).exp
        with pytest.raises(TokenRefused) as refused:
            tokens.verify(info, token, now=exp + tokens.LEEWAY + 1)
        assert refused.value.code == "token_expired"
    settings(app, tenant, require_audience=True)
    assert_error(set_user(client, {"jwt": token}), 401, "token_bad_audience")


def test_a_one_time_token_is_never_kept_and_replays_are_refused(app, tenant, client):
    token = tenant.sign({"id": "once", "jti": f"j-{time.time_ns()}"}, "EdDSA")
    identify(client, {"jwt": token})
    assert token not in app.extensions["signet_recent_tokens"]._entries
    assert_error(set_user(client, {"jwt": token}), 401, "token_replayed")


def test_a_forged_visitor_id_is_never_taken_for_a_checked_one(app, tenant, client):
    visitor = identify(client, {"id": None})["visitorId"]
    assert identify(client, {"id": None}, headers={"X-Signet-Visitor": visitor})["visitorId"] == visitor
    forged = visitor[:-2] + ("AA" if not visitor.endswith("AA") else "BB")
    assert identify(client, {"id": None}, headers={"X-Signet-Visitor": forged})["visitorId"] not in (forged, visitor)
