"""Security review of provider tokens (issue 14): each test is an attack through set-user."""
from __future__ import annotations

import base64
import json
import time

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import EndUser

from .conftest import add_provider, set_user
from .issuer import new_private, public_jwk


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _raw(header: dict, claims: dict, signature: bytes = b"x") -> str:
    return ".".join([_b64(json.dumps(header).encode()), _b64(json.dumps(claims).encode()), _b64(signature)])


def _claims(issuer, **extra):
    now = int(time.time())
    return {"iss": issuer.url, "sub": "u-1", "aud": "client-123", "iat": now, "exp": now + 300, **extra}


def _code(response):
    return response.status_code, (response.get_json() or {}).get("error", {}).get("code")


def test_alg_none_and_hs256_with_the_public_key_are_refused(app, tenant, issuer):
    kid = issuer.add_key("RS256")
    add_provider(app, tenant, issuer)
    assert _code(set_user(app, tenant, _raw({"alg": "none", "kid": kid}, _claims(issuer), b"")))[0] in (400, 401)
    pem = issuer.keys[kid][1].public_key().public_bytes(serialization.Encoding.PEM,
                                                        serialization.PublicFormat.SubjectPublicKeyInfo)
    import hmac, hashlib
    header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
    signing = _b64(json.dumps(header).encode()) + "." + _b64(json.dumps(_claims(issuer)).encode())
    mac = hmac.new(pem, signing.encode(), hashlib.sha256).digest()
    assert _code(set_user(app, tenant, signing + "." + _b64(mac))) == (401, "token_algorithm_not_allowed")


def test_alg_other_than_the_jwk_pins_is_refused(app, tenant, issuer):
    kid = issuer.add_key("RS256")  # the JWK says alg RS256
    add_provider(app, tenant, issuer)
    private = issuer.keys[kid][1]
    token = pyjwt.encode(_claims(issuer), private, algorithm="PS256", headers={"kid": kid})
    assert _code(set_user(app, tenant, token)) == (401, "token_algorithm_not_allowed")
    ec_kid = issuer.add_key("ES256")
    token = pyjwt.encode(_claims(issuer), private, algorithm="RS256", headers={"kid": ec_kid})
    assert _code(set_user(app, tenant, token)) == (401, "token_algorithm_not_allowed")


def test_embedded_jwk_jku_x5c_headers_are_never_used(app, tenant, issuer):
    issuer.add_key("RS256")
    add_provider(app, tenant, issuer)
    mine = new_private("RS256")
    jwk = public_jwk("RS256", mine)
    for extra in ({"jwk": jwk}, {"jku": issuer.url + "/jwks"}, {"x5c": ["MIIB"]}, {"x5u": issuer.url}):
        token = pyjwt.encode(_claims(issuer), mine, algorithm="RS256", headers={"kid": "attacker", **extra})
        assert _code(set_user(app, tenant, token))[1] in ("token_unknown_key", "token_malformed")
        token = pyjwt.encode(_claims(issuer), mine, algorithm="RS256", headers=extra)
        assert _code(set_user(app, tenant, token))[1] in ("token_bad_signature", "token_malformed")


def test_hostile_kids_refetch_at_most_once_a_minute(app, tenant, issuer):
    kid = issuer.add_key("ES256")
    add_provider(app, tenant, issuer)
    before = issuer.jwks_hits
    private = issuer.keys[kid][1]
    for bad in ("../../etc/passwd", "a" * 5000, "%00\u0000", "k" + "é" * 10, "x\ny"):
        token = pyjwt.encode(_claims(issuer), private, algorithm="ES256", headers={"kid": bad})
        status, code = _code(set_user(app, tenant, token))
        assert status in (400, 401) and code in ("token_unknown_key", "token_malformed"), (bad, code)
    assert issuer.jwks_hits - before <= 1


def test_a_provider_kid_equal_to_the_tenants_own_kid(app, tenant, issuer):
    """The provider publishes a kid the tenant's uploaded key also has: neither verifies the other's."""
    own_kid = tenant.ed_kid
    kid = issuer.add_key("EdDSA", kid=own_kid)
    add_provider(app, tenant, issuer)
    assert _code(set_user(app, tenant, tenant.sign({"iss": issuer.url, "sub": "u", "aud": "client-123"}, "EdDSA"))) \
        == (401, "token_bad_signature")
    token = issuer.token(kid, issuer="https://not-the-provider.example")
    assert _code(set_user(app, tenant, token))[1] == "token_bad_signature"


@pytest.mark.parametrize("value", [None, ["a"], {"x": 1}, "", True, 1.5])
def test_id_claim_missing_or_not_a_string(app, tenant, issuer, value):
    kid = issuer.add_key("ES256")
    add_provider(app, tenant, issuer, id_claim="uid")
    extra = {} if value is None else {"uid": value}
    status, code = _code(set_user(app, tenant, issuer.token(kid, **extra)))
    assert status == 400 or status == 401, (status, code)
    with app.app_context():
        assert db.session.scalar(select(db.func.count()).select_from(EndUser)
                                 .where(EndUser.tenant_id == tenant.id)) == 0


def test_attrs_and_odd_claims_never_reach_reserved_fields(app, tenant, issuer):
    kid = issuer.add_key("ES256")
    add_provider(app, tenant, issuer, attr_claims=["verified", "id", "email", "plan"])
    token = issuer.token(kid, sub="u-7", verified=False, id="someone-else", email="x@example.com", email_verified=False,
                         plan={"a": [1, 2]}, picture="javascript:alert(1)")
    response = set_user(app, tenant, token)
    assert response.status_code == 200, response.get_json()
    user = response.get_json()["user"]
    assert user["id"] == "u-7" and user["verified"] is True and user["email"] is None and user["avatarUrl"] is None


@pytest.mark.parametrize("orgs", [{"id": "o1"}, [{"id": "o1", "attrs": "x"}], [None], [[1]], "x" * 10000,
                                  [str(i) for i in range(500)], [{"id": "o1", "role": "admin", "signed": False}]])
def test_organizations_claim_shapes_answer_4xx_or_200_never_500(app, tenant, issuer, orgs):
    kid = issuer.add_key("ES256")
    add_provider(app, tenant, issuer, organizations_claim="orgs")
    response = set_user(app, tenant, issuer.token(kid, orgs=orgs))
    assert response.status_code in (200, 400, 401, 403), response.status_code


def test_same_issuer_in_two_workspaces_each_with_its_audience(app, ed_key, tenant, issuer):
    from ..conftest import provision

    other = provision(app, ed_key, "Beta")
    kid = issuer.add_key("RS256")
    add_provider(app, tenant, issuer, audiences=["client-A"])
    add_provider(app, other, issuer, audiences=["client-B"])
    assert _code(set_user(app, other, issuer.token(kid, audience="client-A")))[1] == "token_bad_audience"
    assert _code(set_user(app, other, issuer.token(kid, audience=["client-A", "x"])))[1] == "token_bad_audience"
    assert set_user(app, other, issuer.token(kid, audience="client-B")).status_code == 200
    assert set_user(app, tenant, issuer.token(kid, audience=["x", "client-A"])).status_code == 200


def test_a_removed_providers_keys_never_serve_a_new_provider_with_its_row_id(app, tmp_path, ed_key, tenant, issuer):
    """SQLite reuses the rowid of a deleted last row. A provider removed by another process, and a
    provider another workspace adds next under the same id, must not meet in this process's cache:
    the attacker's old JWKS would verify tokens carrying the victim's issuer and audience."""
    from ..conftest import make_app, provision
    from .issuer import Issuer
    from webapp.models import IdentityProvider
    from webapp.services.idp import providers
    from webapp.services.workspace import tenants

    attacker = provision(app, ed_key, "Mallory")
    evil = Issuer()
    try:
        evil_kid = evil.add_key("ES256")
        evil_id = add_provider(app, attacker, evil)["id"]
        assert set_user(app, attacker, evil.token(evil_kid)).status_code == 200  # this process holds its keys
        other_process = make_app(tmp_path, SIGNET_ALLOW_PRIVATE_URLS=True)
        with other_process.app_context():
            providers.remove(tenants.get_tenant(attacker.public_id), evil_id)
            db.session.remove()
        issuer.add_key("ES256")
        add_provider(app, tenant, issuer, audiences=["victim-client"])
        with app.app_context():
            ids = db.session.scalars(select(IdentityProvider.id)).all()
        forged = evil.token(evil_kid, issuer=issuer.url, audience="victim-client", sub="victim-admin")
        response = set_user(app, tenant, forged)
        assert response.status_code == 401, (ids, response.get_json())
    finally:
        evil.stop()


def test_hostile_jwks_entries_are_ignored_and_verify_nothing(app, tenant, issuer):
    """An off-curve EC point, RSA e = 1 and e = 3, a second key under a kid already taken, a huge
    document of many keys: ignored with a reason (or cut at the cap), and none verifies a token."""
    kid = issuer.add_key("ES256")
    good = public_jwk("ES256", issuer.keys[kid][1])
    off_curve = {**good, "kid": "off", "y": _b64(bytes(31) + b"\x01")}
    rsa_pub = public_jwk("RS256", new_private("RS256"))
    twin = new_private("ES256")
    issuer.extra = [off_curve, {**rsa_pub, "kid": "e1", "e": "AQ"}, {**rsa_pub, "kid": "e3", "e": "Aw"},
                    {**public_jwk("ES256", twin), "kid": kid, "alg": "ES256"}]
    issuer.extra += [{**public_jwk("ES256", new_private("ES256")), "kid": f"many-{i}"} for i in range(60)]
    summary = add_provider(app, tenant, issuer)
    reasons = dict((k["kid"], k["reason"]) for k in summary["ignored_keys"])
    assert {"off", "e1", "e3", kid} <= set(reasons) and len(summary["keys"]) <= 20
    forged = pyjwt.encode(_claims(issuer), twin, algorithm="ES256", headers={"kid": kid})
    assert _code(set_user(app, tenant, forged)) == (401, "token_bad_signature")
    assert set_user(app, tenant, issuer.token(kid)).status_code == 200
