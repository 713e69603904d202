"""SSO sign-in through Chromium against the local OIDC provider, Signet served by gunicorn; and an
SSO-only domain refusing a password in the same browser."""
from __future__ import annotations

import uuid

from webapp.infra.database import writing
from webapp.services.workspace import members, sso, tenants

from ..chromium import one_page
from ..conftest import PASSWORD
from ..helpers import log_in
from ..servers import Server, migrated_app
from .oidc_provider import Provider


def test_sso_sign_in_in_chromium_and_sso_only_refuses_passwords(tmp_path):
    secret = "k-" + uuid.uuid4().hex
    url, app = migrated_app(tmp_path, secret, SIGNET_ALLOW_PRIVATE_URLS=True)
    idp = Provider()
    with app.app_context():
        tenant = tenants.create_tenant("Corp", "owner@example.com", PASSWORD)
        sso.configure(tenant, sso.SsoSettings(issuer=idp.issuer, client_id=idp.client_id,
                                              client_secret=idp.client_secret, email_domain="corp.example",
                                              sso_only=True))
        with writing():
            members.add_to_tenant(tenants.get_tenant(tenant.public_id), "bob@corp.example", PASSWORD, "agent")
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": secret, "SIGNET_ALLOW_PRIVATE_URLS": "1"})
    try:
        with one_page() as page:
            log_in(page, server.url, "bob@corp.example", PASSWORD)
            assert "single sign-on only" in page.content()
            page.problems.clear()  # Chromium logs the refusal's 403 status itself
            page.get_by_role("link", name="Sign in with single sign-on").click()
            page.get_by_label("Work email").fill("alice@corp.example")
            page.get_by_role("button", name="Continue").click()
            try:
                page.wait_for_url(lambda address: address.startswith(server.url) and "/login" not in address, timeout=10000)
            except Exception:
                raise AssertionError(page.url + page.content()[-1500:] + server.output()[-2000:])
            assert "alice@corp.example" in page.content()  # signed in: the dashboard names the member
            page.goto(server.url + "/account/sessions")
            assert "(single sign-on)" in page.content() and "(this browser)" in page.content()
            assert page.problems == []
    finally:
        server.stop()
        idp.stop()
