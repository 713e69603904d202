"""The identity settings pages in a real browser: forms with CSRF, the secret shown once, the debugger."""
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from ..conftest import PASSWORD

pytestmark = pytest.mark.browser


def log_in(page, signet, email):
    page.goto(f"{signet.url}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{signet.url}/inbox")


def test_secrets_keys_and_debugger_through_the_browser(signet, page):
    tenant = signet.tenant([])
    log_in(page, signet, tenant.owner)
    page.goto(f"{signet.url}/settings/keys")
    page.get_by_label("Label (optional)").first.fill("browser test")
    page.get_by_role("button", name="Generate a secret").click()
    secret = page.locator("#new-secret").input_value()
    assert secret.startswith("sk_")
    page.goto(f"{signet.url}/settings/keys")
    assert secret not in page.content()

    public_pem = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    page.get_by_label("Public key (PEM)").fill(public_pem)
    page.get_by_role("button", name="Add public key").click()
    assert "EdDSA" in page.locator("table").last.text_content()

    expired = jwt.encode({"id": "u1", "exp": int(time.time()) - 3600}, secret, algorithm="HS256")
    page.goto(f"{signet.url}/settings/debugger")
    page.get_by_label("Token").fill(expired)
    page.get_by_role("button", name="Check token").click()
    assert "token_expired" in page.locator("#verdict").text_content()
    assert page.problems == []


def test_an_agent_cannot_open_identity_pages(signet, page):
    from webapp.services.workspace import members, tenants

    tenant = signet.tenant([])
    with signet.app.app_context():
        members.add_to_tenant(tenants.get_tenant(tenant.public_id), "agent-browser@example.com", PASSWORD, "agent")
    log_in(page, signet, "agent-browser@example.com")
    for path in ("/settings/keys", "/settings/identity", "/settings/debugger", "/settings/install"):
        response = page.goto(f"{signet.url}{path}")
        assert response.status == 403, path
