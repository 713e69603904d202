"""Provider tokens through the widget API: every key type from a real library, and each refusal."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import EndUser

from .conftest import add_provider, set_user
from .issuer import ALGS


@pytest.mark.parametrize("alg", ALGS)
def test_a_token_of_every_key_type_is_accepted(app, tenant, issuer, alg):
    kid = issuer.add_key(alg)
    add_provider(app, tenant, issuer, name="Acme Auth", attr_claims=["plan"])
    token = issuer.token(kid, sub="u-42", email="jane@example.com", name="Jane", picture="https://cdn.example.com/j.png",
                         plan="pro", email_verified=True)
    response = set_user(app, tenant, token)
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    assert user == {**user, "id": "u-42", "email": "jane@example.com", "name": "Jane",
                    "avatarUrl": "https://cdn.example.com/j.png", "attrs": {"plan": "pro"}, "verified": True}
    row = tenant.row("u-42")
    assert (row.verified_via, row.verified_alg) == ("provider", alg)
    with app.app_context():
        from webapp.services.end_users.activity import how_verified
        # The row as read (merging it into the session would mark it changed, and the flush that
        # follows writes a new version: a write during the assertion, at times refused as locked).
        assert how_verified(row) == ("verified", f"identity provider Acme Auth, {kid}")


def test_claim_mapping_rules(app, tenant, issuer):
    kid = issuer.add_key("ES256")
    add_provider(app, tenant, issuer, id_claim="email", organizations_claim="org_id")
    token = issuer.token(kid, email="bob@example.com", picture="http://insecure.example.com/b.png", org_id="org-9")
    data = set_user(app, tenant, token).get_json()
    assert data["user"]["id"] == "bob@example.com" and data["user"]["avatarUrl"] is None
    assert data["user"]["organizations"] == [{"id": "org-9", "name": "org-9", "attrs": {}}]
    # An email the provider says is not verified is not taken.
    kid2 = issuer.add_key("ES256")
    response = set_user(app, tenant, issuer.token(kid2, sub="u-2", email="victim@example.com", email_verified=False))
    assert response.status_code == 200 and response.get_json()["user"]["email"] is None


def test_another_audience_is_refused_and_azp_counts_when_configured(app, tenant, issuer):
    kid = issuer.add_key("RS256")
    add_provider(app, tenant, issuer, audiences=["client-123"], authorized_parties=["https://app.example.com"])
    response = set_user(app, tenant, issuer.token(kid, audience="other-app"))
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_bad_audience"
    response = set_user(app, tenant, issuer.token(kid, audience=None, azp="https://evil.example.com"))
    assert response.get_json()["error"]["code"] == "token_bad_audience"
    response = set_user(app, tenant, issuer.token(kid, audience=None, azp="https://app.example.com"))  # Clerk
    assert response.status_code == 200, response.get_json()


def test_another_issuer_is_refused(app, tenant, issuer):
    from .issuer import Issuer

    kid = issuer.add_key("RS256")
    add_provider(app, tenant, issuer)
    other = Issuer()
    try:
        other_kid = other.add_key("RS256")
        # Not a configured issuer: the tenant's own keys are tried, none has this kid.
        response = set_user(app, tenant, other.token(other_kid))
        assert response.get_json()["error"]["code"] == "token_unknown_key"
        # The configured iss with another issuer's key: the provider's keys only.
        response = set_user(app, tenant, other.token(other_kid, issuer=issuer.url))
        assert response.get_json()["error"]["code"] == "token_unknown_key"
        # A provider key with another iss is never verified by provider keys.
        response = set_user(app, tenant, issuer.token(kid, issuer="https://someone-else.example.com"))
        assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_unknown_key"
    finally:
        other.stop()


def test_the_tenants_own_key_never_verifies_a_provider_token(app, tenant, issuer):
    issuer.add_key("EdDSA")
    add_provider(app, tenant, issuer)
    # Signed by the workspace's uploaded Ed25519 key, with its kid, but the provider's iss.
    token = tenant.sign({"iss": issuer.url, "sub": "u-1", "aud": "client-123"}, "EdDSA")
    response = set_user(app, tenant, token)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_unknown_key"
    # ...and the same token without the provider's iss verifies with the tenant key, as always.
    assert set_user(app, tenant, tenant.sign({"sub": "u-1"}, "EdDSA")).status_code == 200


def test_expired_and_missing_exp_and_replay(app, tenant, issuer):
    kid = issuer.add_key("RS256")
    add_provider(app, tenant, issuer)
    assert set_user(app, tenant, issuer.token(kid, ttl=-120)).get_json()["error"]["code"] == "token_expired"
    import jwt as pyjwt
    alg, private = issuer.keys[kid]
    no_exp = pyjwt.encode({"iss": issuer.url, "sub": "u", "aud": "client-123"}, private, algorithm=alg,
                          headers={"kid": kid})
    assert set_user(app, tenant, no_exp).get_json()["error"]["code"] == "token_missing_exp"
    once = issuer.token(kid, jti="one-time-1")
    assert set_user(app, tenant, once).status_code == 200
    assert set_user(app, tenant, once).get_json()["error"]["code"] == "token_replayed"
    hs = tenant.sign({"iss": issuer.url, "sub": "u", "aud": "client-123"}, "HS256")
    assert set_user(app, tenant, hs).get_json()["error"]["code"] == "token_algorithm_not_allowed"


def test_cross_tenant_a_provider_of_tenant_b_never_verifies_for_tenant_a(app, ed_key, tenant, issuer):
    from ..conftest import provision

    other = provision(app, ed_key, "Beta")
    kid = issuer.add_key("RS256")
    add_provider(app, other, issuer)
    token = issuer.token(kid, sub="intruder")
    assert set_user(app, other, token).status_code == 200
    response = set_user(app, tenant, issuer.token(kid, sub="intruder"))
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_unknown_key"
    with app.app_context():
        assert db.session.scalar(select(EndUser).where(EndUser.tenant_id == tenant.id,
                                                       EndUser.external_id == "intruder")) is None
