"""Settings → Secrets and keys, Identity verification, Token debugger, through the dashboard."""
import html
import io
import re
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.identity.errors import TokenRefused
from webapp.models import VerificationKeyRow
from webapp.services.keys import jtis, tokens
from webapp.services.workspace import tenants

from .helpers import csrf_of, post_form


def new_secret(client):
    response = post_form(client, "/settings/keys/secret", {"label": "backend"}, page="/settings/keys")
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    secret = re.search(r'id="new-secret"[^>]*value="([^"]+)"', html).group(1)
    kid = re.search(r"Secret <code>([^<]+)</code>", html).group(1)
    return kid, secret


def pem_of(private_key) -> str:
    return private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def test_secret_is_shown_once_then_masked(owner_client):
    kid, secret = new_secret(owner_client)
    assert secret.startswith("sk_") and len(secret) >= 32
    page = owner_client.get("/settings/keys").get_data(as_text=True)
    assert kid in page and secret not in page and f"sk_…{secret[-4:]}" in page


def test_rotate_shows_grace_then_revoke(owner_client):
    old_kid, _ = new_secret(owner_client)
    response = post_form(owner_client, "/settings/keys/secret", {"replace": "y"}, page="/settings/keys")
    assert response.status_code == 201
    page = owner_client.get("/settings/keys").get_data(as_text=True)
    assert re.search(r"Valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(grace\)", page)
    revoked = post_form(owner_client, f"/settings/keys/{old_kid}/revoke", {}, page="/settings/keys")
    assert revoked.status_code == 302
    assert "Revoked" in owner_client.get("/settings/keys").get_data(as_text=True)


def test_upload_public_key_pasted_and_as_file(app, owner_client):
    pasted = post_form(owner_client, "/settings/keys/public", {"pem": "  " + pem_of(ec.generate_private_key(ec.SECP256R1())) + "\n", "alg": ""}, page="/settings/keys")
    assert pasted.status_code == 302
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = csrf_of(owner_client.get("/settings/keys").get_data(as_text=True))
    as_file = owner_client.post("/settings/keys/public", data={
        "csrf_token": token, "alg": "PS256", "pem": "",
        "pem_file": (io.BytesIO(pem_of(rsa_key).encode()), "public.pem"),
    }, content_type="multipart/form-data")
    assert as_file.status_code == 302
    page = owner_client.get("/settings/keys").get_data(as_text=True)
    assert "ES256" in page and "PS256" in page and page.count("SHA256:") == 2


@pytest.mark.parametrize(
    "pem, alg, message",
    [
        ("garbage", "", "This is not a PEM public key"),
        (None, "", "This is a private key"),
        ("rsa1024", "RS256", "2048"),
        ("p256", "EdDSA", "needs an Ed25519 key"),
    ],
)
def test_bad_public_keys_are_refused_clearly(app, owner_client, pem, alg, message):
    if pem is None:
        pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()).decode()
    elif pem == "rsa1024":
        pem = pem_of(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    elif pem == "p256":
        pem = pem_of(ec.generate_private_key(ec.SECP256R1()))
    response = post_form(owner_client, "/settings/keys/public", {"pem": pem, "alg": alg}, page="/settings/keys")
    assert response.status_code == 400
    html = response.get_data(as_text=True)
    assert message in html
    assert "PRIVATE KEY-----" not in html.split("<textarea")[0]
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(VerificationKeyRow)) == 0


def test_identity_page_samples_and_mode(app, owner_client):
    kid, _ = new_secret(owner_client)
    page = owner_client.get("/settings/identity").get_data(as_text=True)
    public_id = owner_client.tenant.public_id
    for sample in ("sample-hs256-jsonwebtoken", "sample-hs256-jose", "sample-hs256-pyjwt", "sample-hs256-ruby"):
        assert f'id="{sample}"' in page
    assert page.count(kid) >= 4 and page.count(public_id) >= 4
    response = post_form(owner_client, "/settings/identity", {"verification_mode": "report", "audience": "signet-widget"})
    assert response.status_code == 302
    page = owner_client.get("/settings/identity").get_data(as_text=True)
    assert "Calls that Required would refuse" in page
    with app.app_context():
        assert tenants.get_tenant(public_id).verification_mode == "report"


def test_debugger_explains_a_refusal_and_reads_only(app, owner_client):
    kid, secret = new_secret(owner_client)
    expired = jwt.encode({"id": "u1", "exp": int(time.time()) - 3600}, secret, algorithm="HS256", headers={"kid": kid})
    response = post_form(owner_client, "/settings/debugger", {"token": expired})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "token_expired" in html and "How to fix:" in html and "Server time" in html
    assert "(unverified)" in html
    assert '"id": "u1"' in html  # the decoded claims, shown as JSON
    assert kid in html
    good = jwt.encode({"id": "u1", "exp": int(time.time()) + 600, "jti": "debug-1"}, secret, algorithm="HS256")
    html = post_form(owner_client, "/settings/debugger", {"token": good}).get_data(as_text=True)
    assert "Signet would accept this token" in html
    # The debugger did not use up the jti: the real verification still accepts it once.
    with app.app_context():
        tenant = tenants.get_tenant(owner_client.tenant.public_id)
        jtis.record_jti(tenant, tokens.verify(tenant, good))
        db.session.commit()
    html = post_form(owner_client, "/settings/debugger", {"token": good}).get_data(as_text=True)
    assert "token_replayed" in html


def test_debugger_lists_recent_rejections(app, owner_client):
    with app.app_context():
        tenant = tenants.get_tenant(owner_client.tenant.public_id)
        with pytest.raises(TokenRefused):
            tokens.verify(tenant, "not.a.token!", origin="https://shop.example.com")
    html = owner_client.get("/settings/debugger").get_data(as_text=True)
    assert "token_malformed" in html and "https://shop.example.com" in html


@pytest.mark.parametrize("path", ["/settings/keys", "/settings/identity", "/settings/debugger"])
def test_agents_cannot_reach_identity_pages(as_role, path):
    agent = as_role("agent")
    assert agent.get(path).status_code == 403
    token = csrf_of(agent.get("/inbox").get_data(as_text=True))
    assert agent.post(path, data={"csrf_token": token, "token": "x"}).status_code == 403
    assert agent.post("/settings/keys/secret", data={"csrf_token": token}).status_code == 403
    assert agent.post("/settings/keys/sec_x/revoke", data={"csrf_token": token}).status_code == 403


def test_identity_forms_need_csrf(app, owner_client):
    for path in ("/settings/keys/secret", "/settings/keys/public", "/settings/identity", "/settings/debugger"):
        assert owner_client.post(path, data={"pem": "x", "token": "x"}).status_code == 400, path
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(VerificationKeyRow)) == 0


def test_revoking_another_tenants_key_is_404(app, owner_client, factory):
    other = factory.tenant("Other")
    with app.app_context():
        from webapp.services.keys import keyring
        row, _ = keyring.create_secret(tenants.get_tenant(other.public_id))
        kid = row.kid
    assert post_form(owner_client, f"/settings/keys/{kid}/revoke", {}, page="/settings/keys").status_code == 404
    with app.app_context():
        assert db.session.scalar(select(VerificationKeyRow.revoked_at).where(VerificationKeyRow.kid == kid)) is None


# --- finding 7 (key limits) and finding 13 (each workspace its own audience) ---------------

def _add_es256(client, replace: bool = False):
    private = ec.generate_private_key(ec.SECP256R1())
    data = {"pem": pem_of(private), "alg": "ES256", **({"replace": "y"} if replace else {})}
    return private, post_form(client, "/settings/keys/public", data, page="/settings/keys")


def test_secret_form_past_the_cap_is_a_form_error(app, owner_client):
    for _ in range(3):
        new_secret(owner_client)
    response = post_form(owner_client, "/settings/keys/secret", {"replace": "y"}, page="/settings/keys")
    assert response.status_code == 400
    text = html.unescape(response.get_data(as_text=True))
    assert "This workspace already has 3 live signing secrets" in text and 'role="alert"' in text
    assert 'id="new-secret"' not in text
    with app.app_context():
        rows = db.session.scalars(select(VerificationKeyRow)).all()
        assert len(rows) == 3 and {row.grace_ends_at for row in rows} == {None}  # replace undone


def test_public_key_form_past_the_cap_is_a_form_error(app, owner_client):
    for _ in range(3):
        assert _add_es256(owner_client)[1].status_code == 302
    _, response = _add_es256(owner_client, replace=True)
    assert response.status_code == 400
    assert "This workspace already has 3 live ES256 public keys" in html.unescape(response.get_data(as_text=True))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(VerificationKeyRow)) == 3


def test_debugger_says_why_a_token_without_kid_needs_one(owner_client):
    oldest, _ = _add_es256(owner_client)
    for _ in range(2):
        _add_es256(owner_client, replace=True)
    token = jwt.encode({"id": "u1", "exp": int(time.time()) + 600}, oldest, algorithm="ES256")
    text = html.unescape(post_form(owner_client, "/settings/debugger", {"token": token}).get_data(as_text=True))
    assert "token_unknown_key" in text
    assert "This workspace has 3 live ES256 keys; tokens must name their kid." in text


def test_debugger_explains_a_token_refused_for_its_audience(app, owner_client):
    kid, secret = new_secret(owner_client)
    audience = f"signet:{owner_client.tenant.public_id}"
    token = jwt.encode({"id": "u1", "aud": "signet:acme-other1", "exp": int(time.time()) + 600}, secret,
                       algorithm="HS256", headers={"kid": kid})
    text = html.unescape(post_form(owner_client, "/settings/debugger", {"token": token}).get_data(as_text=True))
    assert "token_bad_audience" in text
    assert f'Expected aud {audience}, got "signet:acme-other1"; this workspace\'s audience is {audience}.' in text
    assert "other workspace" not in text and "another workspace" not in text


def test_every_signing_sample_sets_this_workspaces_own_audience(app, owner_client):
    """Finding 13: a new workspace's audience is its own, and every sample sets it (always)."""
    new_secret(owner_client)
    _add_es256(owner_client)
    audience = f"signet:{owner_client.tenant.public_id}"
    with app.app_context():
        assert tenants.get_tenant(owner_client.tenant.public_id).audience == audience
    for path in ("/settings/identity", "/settings/install"):
        page = owner_client.get(path).get_data(as_text=True)
        for alg in ("hs256", "es256"):
            for language in ("jsonwebtoken", "jose", "pyjwt", "ruby"):
                code = page.split(f'id="sample-{alg}-{language}">', 1)[1].split("</code>", 1)[0]
                assert (f'audience: "{audience}"' in code or f'.setAudience("{audience}")' in code
                        or f'"aud": "{audience}"' in code or f'aud: "{audience}"' in code), (path, alg, language)
                assert code.count(audience) == 1
