"""Security review: a provider token's `azp` (the app it was issued to) is checked even when its
`aud` matched (OIDC Core 3.1.3.7, items 4-5). Before, a token with this workspace's audience but
issued to another app of the same provider (another azp) signed its user in. Tokens are minted
by PyJWT against the local issuer, sent to the widget API."""
from __future__ import annotations

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import EndUser

from .conftest import add_provider, set_user


def _exists(app, tenant, external_id: str) -> bool:
    with app.app_context():
        return db.session.scalar(select(EndUser.id).where(EndUser.tenant_id == tenant.id,
                                                          EndUser.external_id == external_id)) is not None


def _code(response):
    return response.status_code, (response.get_json().get("error") or {}).get("code")


def test_azp_must_be_an_authorized_party_when_some_are_configured_even_if_aud_matched(app, tenant, issuer):
    kid = issuer.add_key("RS256")
    add_provider(app, tenant, issuer, audiences=["client-123"], authorized_parties=["https://app.example.com"])
    refused = set_user(app, tenant, issuer.token(kid, sub="u-1", azp="https://evil.example.com"))
    assert _code(refused) == (401, "token_bad_audience")
    assert "azp" in refused.get_json()["error"]["message"]
    assert not _exists(app, tenant, "u-1")
    assert _code(set_user(app, tenant, issuer.token(kid, sub="u-1", azp=["https://app.example.com"]))) == \
        (401, "token_bad_audience")  # not a string
    accepted = set_user(app, tenant, issuer.token(kid, sub="u-1", azp="https://app.example.com"))
    assert accepted.status_code == 200, accepted.get_json()
    assert set_user(app, tenant, issuer.token(kid, sub="u-2")).status_code == 200  # no azp: aud decides


def test_several_audiences_and_an_azp_need_a_configured_azp(app, tenant, issuer):
    kid = issuer.add_key("ES256")
    add_provider(app, tenant, issuer, audiences=["client-123"])
    several = ["client-123", "other-app"]
    refused = set_user(app, tenant, issuer.token(kid, sub="u-3", audience=several, azp="other-app"))
    assert _code(refused) == (401, "token_bad_audience")
    assert not _exists(app, tenant, "u-3")
    accepted = set_user(app, tenant, issuer.token(kid, sub="u-3", audience=several, azp="client-123"))
    assert accepted.status_code == 200, accepted.get_json()
    # One audience and no authorized parties configured: an azp of the same client's other app is kept.
    assert set_user(app, tenant, issuer.token(kid, sub="u-4", azp="android-app")).status_code == 200
