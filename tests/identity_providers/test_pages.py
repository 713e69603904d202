"""Settings → Identity providers, the token debugger and the Install page with provider tokens."""
from __future__ import annotations

import pytest
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import IdentityProvider

from ..helpers import post_form
from .conftest import add_provider
from .issuer import new_private, public_jwk

PAGE = "/settings/identity-providers"


@pytest.mark.parametrize("role", ["owner", "admin"])
def test_add_see_and_remove_a_provider(app, as_role, issuer, role):
    client = as_role(role)
    kid = issuer.add_key("RS256")
    issuer.extra = [{**public_jwk("RS256", new_private("RS256")), "kid": "enc-key", "use": "enc"}]
    added = post_form(client, PAGE, {"issuer": issuer.url, "audiences": "client-123, client-456", "name": "Acme Auth"},
                      page=PAGE)
    assert added.status_code == 302, added.get_data(as_text=True)
    html = client.get(PAGE).get_data(as_text=True)
    assert "Acme Auth" in html and kid in html and "enc-key" in html and "encryption key" in html
    with app.app_context():
        row = db.session.scalar(select(IdentityProvider))
        assert row.audiences == ["client-123", "client-456"]
        db.session.execute(update(IdentityProvider).values(jwks_error="The JWKS URL answered HTTP 503.",
                                                          jwks_error_at=row.jwks_fetched_at))
        db.session.commit()
        public_id = row.public_id
    page = client.get(PAGE)
    assert "answered HTTP 503" in page.get_data(as_text=True) and "Content-Security-Policy" in page.headers
    assert post_form(client, f"{PAGE}/{public_id}/remove", {}, page=PAGE).status_code == 302
    assert "No identity provider yet" in client.get(PAGE).get_data(as_text=True)


def test_refusals_are_shown_beside_the_field_and_nothing_is_stored(app, as_role, issuer):
    client = as_role("owner")
    issuer.add_key("RS256")
    response = post_form(client, PAGE, {"issuer": issuer.url}, page=PAGE)
    assert response.status_code == 400 and "at least one audience" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(IdentityProvider)) is None


def test_agents_get_403_and_csrf_is_required(app, as_role, issuer):
    agent = as_role("agent")
    assert agent.get(PAGE).status_code == 403
    owner = as_role("owner")
    assert owner.post(PAGE, data={"issuer": issuer.url, "audiences": "a"}).status_code in (400, 403)
    assert issuer.hits == {}


def test_the_debugger_explains_provider_tokens(app, tenant, issuer):
    kid = issuer.add_key("ES256")
    add_provider(app, tenant, issuer, name="Acme Auth")
    client = tenant.page_client()

    def debug(token):
        return post_form(client, "/settings/debugger", {"token": token}, page="/settings/debugger").get_data(as_text=True)

    html = debug(issuer.token(kid))
    assert "Valid" in html and "Acme Auth" in html and kid in html
    html = debug(issuer.token(kid, audience="another-app"))
    assert "token_bad_audience" in html and "made for another app" in html and "client-123" in html
    html = debug(issuer.token(issuer.add_key("EdDSA", publish=False)))
    assert "token_unknown_key" in html and "Acme Auth" in html and "at most once a minute" in html
    html = debug(issuer.token(kid, issuer="https://other.example.com"))
    assert "token_unknown_key" in html and "belongs to identity provider Acme Auth" in html
    assert issuer.jwks_hits == 1  # the debugger fetches nothing


def test_the_install_page_shows_the_one_line_per_provider(app, tenant):
    html = tenant.page_client().get("/settings/install").get_data(as_text=True)
    for call in ("getIdTokenClaims()).__raw", "session.getToken()", "getIdToken()", "tokens.idToken.toString()"):
        assert call in html


@pytest.mark.parametrize("bad", ["https://[::1", "https://[not-an-ip]/"])
def test_a_malformed_issuer_url_is_a_field_error_not_a_500(app, as_role, issuer, bad):
    """urlsplit raises ValueError on a broken [IPv6] host: the form and the CLI must refuse it."""
    client = as_role("owner")
    response = post_form(client, PAGE, {"issuer": bad, "audiences": "a"}, page=PAGE)
    assert response.status_code == 400 and "not a valid URL" in response.get_data(as_text=True)
    result = app.test_cli_runner().invoke(args=["signet", "idp", "add", _tenant_id(app), "--issuer", bad,
                                                "--audience", "a"])
    assert result.exit_code == 1 and "not a valid URL" in result.output
    assert issuer.hits == {}
    with app.app_context():
        assert db.session.scalar(select(IdentityProvider)) is None


def _tenant_id(app) -> str:
    from webapp.models import Tenant
    with app.app_context():
        return db.session.scalars(select(Tenant.public_id)).first()
