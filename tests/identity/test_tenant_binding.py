"""Through the widget API over HTTP: a token is bound to its workspace (finding 13) and a token
without kid is tried with at most two keys (finding 7)."""
from __future__ import annotations

import time

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from webapp.services.keys import keyring
from webapp.services.workspace import tenants

from ..conftest import provision


def set_user(client, public_id: str, token: str):
    return client.post(f"/api/v1/widget/{public_id}/set-user", json={"jwt": token})


def audience_of(app, public_id: str) -> str:
    with app.app_context():
        return tenants.get_tenant(public_id).audience


def test_a_token_for_one_workspace_is_refused_by_another_holding_the_same_public_key(app, client, ed_key):
    """One Ed25519 public key uploaded to workspaces A and B. A token made for A as the samples
    make it (aud = A's audience) verifies in A and is refused by B, saying nothing about A."""
    a, b = provision(app, ed_key, "Alpha"), provision(app, ed_key, "Beta")
    aud_a, aud_b = audience_of(app, a.public_id), audience_of(app, b.public_id)
    assert aud_a == f"signet:{a.public_id}" and aud_b == f"signet:{b.public_id}"
    claims = {"id": "u-1", "aud": aud_a, "tid": a.public_id, "exp": int(time.time()) + 300}
    with_kid = jwt.encode(claims, ed_key, algorithm="EdDSA", headers={"kid": a.ed_kid})
    without_kid = jwt.encode(claims, ed_key, algorithm="EdDSA")
    without_tid = jwt.encode({k: v for k, v in claims.items() if k != "tid"}, ed_key, algorithm="EdDSA")
    for token in (with_kid, without_kid, without_tid):
        assert set_user(client, a.public_id, token).status_code == 200
    assert set_user(client, b.public_id, with_kid).get_json()["error"]["code"] == "token_unknown_key"
    for token in (without_kid, without_tid):
        response = set_user(client, b.public_id, token)
        assert response.status_code == 401
        error = response.get_json()["error"]
        assert error["code"] == "token_bad_audience"
        assert a.public_id not in error["message"] and "workspaces" not in error["message"]


def test_a_token_without_aud_is_bound_only_when_the_workspace_requires_aud(app, client, ed_key):
    """The documented rule (§4): aud is optional unless the workspace requires it."""
    b = provision(app, ed_key, "Beta")
    token = jwt.encode({"id": "u-1", "exp": int(time.time()) + 300}, ed_key, algorithm="EdDSA")
    assert set_user(client, b.public_id, token).status_code == 200
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(b.public_id), tenants.Settings(require_audience=True))
    assert set_user(client, b.public_id, token).get_json()["error"]["code"] == "token_bad_audience"


def test_a_third_live_key_makes_tokens_without_kid_name_it(app, client, ed_key):
    tenant = provision(app, ed_key, "Rotating")
    newer = [ed25519.Ed25519PrivateKey.generate() for _ in range(2)]
    with app.app_context():
        row = tenants.get_tenant(tenant.public_id)
        for private in newer:
            pem = private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
            keyring.add_public_key(row, pem, "EdDSA", replace=True)
    claims = {"id": "u-1", "exp": int(time.time()) + 300}
    oldest = jwt.encode(claims, ed_key, algorithm="EdDSA")
    response = set_user(client, tenant.public_id, oldest)
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_unknown_key"
    assert "kid" in response.get_json()["error"]["message"]
    named = jwt.encode(claims, ed_key, algorithm="EdDSA", headers={"kid": tenant.ed_kid})
    assert set_user(client, tenant.public_id, named).status_code == 200
    for private in newer:  # the newest active and the newest in grace: no kid needed
        assert set_user(client, tenant.public_id, jwt.encode(claims, private, algorithm="EdDSA")).status_code == 200
