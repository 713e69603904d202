"""The token debugger says exactly what is wrong, and the rejection log keeps the short cause.

Each faulty token is made the way the faulty library makes it: cryptography's ECDSA sign (DER),
RSASSA-PSS with PSS.MAX_LENGTH, an HMAC over the secret's base64-decoded bytes (Node's
Buffer.from(secret, "base64")) or over the secret read with its newline, the wrong kid, …
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import html
import json
import re
import time

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sqlalchemy import select

from webapp.extensions import db
from webapp.identity import forensics as identity_forensics
from webapp.models import Rejection
from webapp.services.keys import keyring
from webapp.services.workspace import tenants

from ..helpers import post_form


def b64(data: bytes | str) -> str:
    data = data.encode() if isinstance(data, str) else data
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def signing_input(alg: str, kid: str, tenant_id: str, **claims) -> str:
    body = {"id": "u1", "exp": int(time.time()) + 600, "tid": tenant_id, **claims}
    return b64(json.dumps({"alg": alg, "kid": kid})) + "." + b64(json.dumps(body))


def hs256(key: bytes, alg_kid: str, tenant_id: str, **claims) -> str:
    head = signing_input("HS256", alg_kid, tenant_id, **claims)
    return head + "." + b64(hmac.new(key, head.encode(), hashlib.sha256).digest())


def spki(private) -> str:
    return private.public_key().public_bytes(serialization.Encoding.PEM,
                                             serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@pytest.fixture
def workspace(app, owner_client):
    """The owner's client and a helper running the services on their workspace."""
    public_id = owner_client.tenant.public_id

    def run(fn, *args, **kwargs):
        """fn(tenant, …) in an app context; a key row comes back as its kid."""
        with app.app_context():
            result = fn(tenants.get_tenant(public_id), *args, **kwargs)
            if isinstance(result, tuple):
                return tuple(getattr(item, "kid", item) for item in result)
            return getattr(result, "kid", result)

    owner_client.run = run
    return owner_client


def debug(client, token: str) -> str:
    return html.unescape(post_form(client, "/settings/debugger", {"token": token}).get_data(as_text=True))


def why_and_fix(page: str) -> tuple[str, str]:
    why = re.search(r"<strong>Why:</strong> (.*?)</p>", page, re.S)
    fix = re.search(r"<strong>How to fix:</strong> (.*?)</p>", page, re.S)
    return (why.group(1) if why else ""), (fix.group(1) if fix else "")


def secret_of(client) -> tuple[str, str]:
    return client.run(keyring.create_secret)


def test_es256_signature_in_der_form(workspace):
    private = ec.generate_private_key(ec.SECP256R1())
    kid = workspace.run(keyring.add_public_key, spki(private), "ES256")
    head = signing_input("ES256", kid, workspace.tenant.public_id)
    token = head + "." + b64(private.sign(head.encode(), ec.ECDSA(hashes.SHA256())))  # DER, as cryptography gives
    page = debug(workspace, token)
    why, fix = why_and_fix(page)
    assert "token_bad_signature" in page
    assert "DER-encoded" in why and "raw 64-byte r‖s" in why and kid in why
    assert "dsaEncoding: \"ieee-p1363\"" in fix and "SHA256withECDSAinP1363Format" in fix


def test_ps256_signature_with_max_length_salt(workspace):
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    kid = workspace.run(keyring.add_public_key, spki(private), "PS256")
    head = signing_input("PS256", kid, workspace.tenant.public_id)
    salted = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.MAX_LENGTH)
    token = head + "." + b64(private.sign(head.encode(), salted, hashes.SHA256()))
    why, fix = why_and_fix(debug(workspace, token))
    assert "salt length other than 32" in why and "RFC 7518 §3.5" in why
    assert "salt_length=32" in fix and "PSS.MAX_LENGTH" in fix


@pytest.mark.parametrize("decode", [
    lambda s: base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)),  # Node: Buffer.from(secret, "base64")
    lambda s: base64.urlsafe_b64decode(s[3:] + "=" * (-len(s[3:]) % 4)),  # the part after sk_, decoded
], ids=["node-buffer", "without-prefix"])
def test_hs256_signed_with_the_secret_base64_decoded(workspace, decode):
    kid, secret = secret_of(workspace)
    key = decode(secret)
    page = debug(workspace, hs256(key, kid, workspace.tenant.public_id))
    why, fix = why_and_fix(page)
    assert f"signed with the secret {kid} base64-decoded" in why
    assert "exactly as shown" in fix
    assert secret not in page and secret[3:20] not in page


@pytest.mark.parametrize("suffix, words", [("\n", "followed by a newline"), (" ", "followed by a space")])
def test_hs256_signed_with_a_trailing_newline_or_space(workspace, suffix, words):
    kid, secret = secret_of(workspace)
    page = debug(workspace, hs256((secret + suffix).encode(), kid, workspace.tenant.public_id))
    why, fix = why_and_fix(page)
    assert f"the secret {kid} {words}" in why and "Strip the secret" in fix
    assert secret not in page


def test_hs256_signed_with_another_secret_of_this_workspace_revoked(workspace):
    old_kid, old_secret = secret_of(workspace)
    new_kid, _ = secret_of(workspace)
    workspace.run(keyring.revoke, old_kid)
    page = debug(workspace, hs256(old_secret.encode(), new_kid, workspace.tenant.public_id))
    why, fix = why_and_fix(page)
    assert f"verifies with this workspace's secret {old_kid}, which was revoked at " in why
    assert f"not with {new_kid}" in why and f"{old_kid} no longer works" in fix
    assert re.search(r"revoked at \d{4}-\d\d-\d\d \d\d:\d\d UTC", why)
    assert old_secret not in page


def test_token_that_verifies_with_another_key_than_its_kid(workspace):
    first, second = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    first_kid = workspace.run(keyring.add_public_key, spki(first), "ES256")
    second_kid = workspace.run(keyring.add_public_key, spki(second), "ES256")
    import jwt

    token = jwt.encode({"id": "u1", "exp": int(time.time()) + 600}, second, algorithm="ES256",
                       headers={"kid": first_kid})
    why, fix = why_and_fix(debug(workspace, token))
    assert f"verifies with this workspace's key {second_kid}, not with {first_kid}" in why
    assert f"Put kid {second_kid} in the token's header" in fix


def test_revoked_kid_says_when(workspace):
    kid, secret = secret_of(workspace)
    live_kid, _ = secret_of(workspace)
    workspace.run(keyring.revoke, kid)
    page = debug(workspace, hs256(secret.encode(), kid, workspace.tenant.public_id))
    why, fix = why_and_fix(page)
    assert "token_unknown_key" in page
    assert re.fullmatch(rf"Key {kid} was revoked at \d{{4}}-\d\d-\d\d \d\d:\d\d UTC\.", why.strip())
    assert f"Sign with {live_kid}" in fix


def test_kid_in_its_grace_window_is_valid_with_a_notice(workspace):
    kid, secret = secret_of(workspace)
    new_kid, _ = workspace.run(keyring.create_secret, replace=True)
    page = debug(workspace, hs256(secret.encode(), kid, workspace.tenant.public_id))
    assert "Signet would accept this token" in page
    notice = re.search(r'<p id="notice"[^>]*>(.*?)</p>', page, re.S).group(1)
    assert re.search(rf"Signed with key {kid}, which stops working at \d{{4}}-\d\d-\d\d \d\d:\d\d UTC: "
                     rf"move your backend to secret {new_kid}\.", notice)


def test_bad_issuer_and_wrong_tenant_say_expected_and_got(workspace):
    kid, secret = secret_of(workspace)
    public_id = workspace.tenant.public_id
    workspace.run(lambda t: tenants.update_settings(t, tenants.Settings(issuer="https://app.example.com")))
    why, fix = why_and_fix(debug(workspace, hs256(secret.encode(), kid, public_id, iss="https://other.example")))
    assert why.strip() == 'Expected iss https://app.example.com, got "https://other.example".'
    assert "https://app.example.com" in fix
    token = hs256(secret.encode(), kid, "acme-zzzzzz", iss="https://app.example.com")
    why, fix = why_and_fix(debug(workspace, token))
    assert why.strip() == f'Expected tid {public_id}, got "acme-zzzzzz".'


def test_widget_refusal_logs_the_cause_never_the_token(app, workspace):
    private = ec.generate_private_key(ec.SECP256R1())
    kid = workspace.run(keyring.add_public_key, spki(private), "ES256")
    public_id = workspace.tenant.public_id
    head = signing_input("ES256", kid, public_id)
    token = head + "." + b64(private.sign(head.encode(), ec.ECDSA(hashes.SHA256())))
    response = app.test_client().post(f"/api/v1/widget/{public_id}/set-user", json={"jwt": token})
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_bad_signature"
    with app.app_context():
        row = db.session.scalar(select(Rejection).order_by(Rejection.id.desc()))
    assert row.code == "token_bad_signature" and "DER-encoded" in row.message
    assert token.split(".")[2] not in row.message and head not in row.message
    page = workspace.get("/settings/debugger").get_data(as_text=True)
    assert "DER-encoded" in html.unescape(page)


def test_widget_forensics_are_bounded(app, workspace, monkeypatch):
    """A junk RS256 signature against 3 live and 6 revoked keys costs at most 6 extra checks."""
    kids = []
    for n in range(9):
        pem = spki(rsa.generate_private_key(public_exponent=65537, key_size=2048))
        kids.append(workspace.run(keyring.add_public_key, pem, "RS256"))
        if n < 6:
            workspace.run(keyring.revoke, kids[-1])
    calls = []
    real = identity_forensics._signature_verifies
    monkeypatch.setattr(identity_forensics, "_signature_verifies", lambda *a: calls.append(a) or real(*a))
    public_id = workspace.tenant.public_id
    token = signing_input("RS256", kids[-1], public_id) + "." + b64(b"\x01" * 256)
    response = app.test_client().post(f"/api/v1/widget/{public_id}/set-user", json={"jwt": token})
    assert response.get_json()["error"]["code"] == "token_bad_signature"
    assert 1 <= len(calls) <= 6
