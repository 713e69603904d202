"""An issuer has no query and no fragment (OpenID Connect): a tenant's pinned iss (CLI and the
Identity verification page) and single sign-on's issuer (its page) with `?x=1` or `#f` are
refused with a clear message, and nothing is saved. Identity providers: tests/identity_providers."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import SsoProvider
from webapp.services.workspace import tenants

from .helpers import post_form

BAD = ["https://login.example.com?x=1", "https://login.example.com/#f", "https://login.example.com/t?"]


def stored_issuer(app, public_id: str):
    with app.app_context():
        issuer = tenants.get_tenant(public_id).issuer
        db.session.remove()
    return issuer


@pytest.mark.parametrize("bad", BAD)
def test_cli_refuses_a_pinned_issuer_with_a_query_or_fragment(app, factory, bad):
    tenant = factory.tenant()
    runner = app.test_cli_runner()
    ok = runner.invoke(args=["signet", "tenant", "set", tenant.public_id, "--issuer", "https://login.example.com"])
    assert ok.exit_code == 0, ok.output
    result = runner.invoke(args=["signet", "tenant", "set", tenant.public_id, "--issuer", bad, "--seat-limit", "7"])
    assert result.exit_code == 1 and "no query" in result.output and "fragment" in result.output
    assert stored_issuer(app, tenant.public_id) == "https://login.example.com"
    with app.app_context():
        assert tenants.get_tenant(tenant.public_id).seat_limit is None  # nothing of the command was saved


@pytest.mark.parametrize("bad", BAD)
def test_identity_page_refuses_a_pinned_issuer_with_a_query_or_fragment(app, owner_client, bad):
    response = post_form(owner_client, "/settings/identity", {"verification_mode": "report",
                                                               "audience": "signet-widget", "issuer": bad})
    assert response.status_code == 400
    assert "no query (?…) or fragment (#…)" in response.get_data(as_text=True)
    assert stored_issuer(app, owner_client.tenant.public_id) is None
    with app.app_context():
        assert tenants.get_tenant(owner_client.tenant.public_id).verification_mode != "report"


def test_identity_page_still_takes_a_plain_issuer(app, owner_client):
    response = post_form(owner_client, "/settings/identity", {"verification_mode": "optional",
                                                               "audience": "signet-widget",
                                                               "issuer": "https://login.example.com/tenant-1"})
    assert response.status_code == 302
    assert stored_issuer(app, owner_client.tenant.public_id) == "https://login.example.com/tenant-1"


@pytest.mark.parametrize("bad", BAD)
def test_sso_page_refuses_an_issuer_with_a_query_or_fragment(app, as_role, bad):
    owner = as_role("owner")
    response = post_form(owner, "/settings/sso", {"issuer": bad, "client_id": "c", "client_secret": "s",
                                                  "email_domain": "corp.example", "default_role": "agent"})
    assert response.status_code == 400 and "no query (?…) or fragment (#…)" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(SsoProvider)) == 0
