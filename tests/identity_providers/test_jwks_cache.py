"""The shared JWKS cache: Cache-Control honoured within bounds, rotation, a kid that appears later,
an unreachable JWKS keeping the last good keys, and at most one refetch a minute per provider."""
from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import IdentityProvider
from webapp.models._types import utcnow
from webapp.services.idp import jwks

from .conftest import add_provider, set_user


def _row(app, public_id):
    with app.app_context():
        row = db.session.scalar(select(IdentityProvider).where(IdentityProvider.public_id == public_id))
        db.session.expunge(row)
        return row


def _expire(app, public_id):
    """The shared row's keys are past their freshness, and no process holds them any more."""
    with app.app_context():
        db.session.execute(update(IdentityProvider).where(IdentityProvider.public_id == public_id)
                           .values(jwks_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        app.extensions.get("signet_jwks", {}).clear()


@pytest.mark.parametrize("header, ttl", [("max-age=600", 600), ("public, max-age=5", 300),
                                         ("max-age=999999", 86400), (None, 3600), ("no-store", 300)])
def test_cache_control_is_honoured_within_bounds(app, tenant, issuer, header, ttl):
    issuer.add_key("RS256")
    issuer.cache_control = header
    found = add_provider(app, tenant, issuer)
    row = _row(app, found["id"])
    assert row.jwks_expires_at - row.jwks_fetched_at == timedelta(seconds=ttl)


def test_tokens_use_the_held_keys_without_refetching(app, tenant, issuer):
    kid = issuer.add_key("RS256")
    add_provider(app, tenant, issuer)
    assert issuer.jwks_hits == 1 and issuer.hits["/.well-known/openid-configuration"] == 1
    for n in range(5):
        assert set_user(app, tenant, issuer.token(kid, sub=f"u-{n}")).status_code == 200
    assert issuer.jwks_hits == 1


def test_a_kid_that_appears_later_is_fetched_once_and_unknown_kids_at_most_once_a_minute(app, tenant, issuer):
    issuer.add_key("RS256")
    add_provider(app, tenant, issuer)
    later = issuer.add_key("ES256")  # published after setup
    assert set_user(app, tenant, issuer.token(later)).status_code == 200
    assert issuer.jwks_hits == 2
    assert set_user(app, tenant, issuer.token(later, sub="u-2")).status_code == 200
    assert issuer.jwks_hits == 2  # now held
    unpublished = issuer.add_key("EdDSA", publish=False)
    for _ in range(3):
        response = set_user(app, tenant, issuer.token(unpublished))
        assert response.get_json()["error"]["code"] == "token_unknown_key"
    assert issuer.jwks_hits == 2  # the refetch for `later` was less than a minute ago
    app.extensions["signet_jwks"].clear()  # another process, same shared row
    assert set_user(app, tenant, issuer.token(unpublished)).status_code == 401
    assert issuer.jwks_hits == 2


def test_rotation_a_removed_key_is_refused_after_the_refresh(app, tenant, issuer):
    old = issuer.add_key("RS256")
    found = add_provider(app, tenant, issuer)
    new = issuer.add_key("PS256")
    issuer.remove_key(old)
    assert set_user(app, tenant, issuer.token(old)).status_code == 200  # still fresh: held keys
    _expire(app, found["id"])
    assert set_user(app, tenant, issuer.token(new)).status_code == 200  # the refresh brought it
    response = set_user(app, tenant, issuer.token(old, sub="u-9"))
    assert response.status_code == 401 and response.get_json()["error"]["code"] == "token_unknown_key"


def test_an_unreachable_jwks_keeps_the_last_good_keys_and_records_the_failure(app, tenant, issuer):
    kid = issuer.add_key("ES256")
    found = add_provider(app, tenant, issuer)
    issuer.down = True
    _expire(app, found["id"])
    assert set_user(app, tenant, issuer.token(kid)).status_code == 200
    row = _row(app, found["id"])
    assert "503" in row.jwks_error and row.jwks_error_at is not None and row.jwks_document
    assert row.jwks_expires_at > utcnow()  # retried after a minute, not on every token
    hits = issuer.jwks_hits
    app.extensions["signet_jwks"].clear()
    assert set_user(app, tenant, issuer.token(kid, sub="u-3")).status_code == 200
    assert issuer.jwks_hits == hits


def test_a_fetch_claimed_by_another_process_is_not_waited_for(app, tenant, issuer):
    kid = issuer.add_key("RS256")
    found = add_provider(app, tenant, issuer)
    _expire(app, found["id"])
    with app.app_context():  # another process is fetching right now
        db.session.execute(update(IdentityProvider).where(IdentityProvider.public_id == found["id"])
                           .values(jwks_fetching_until=utcnow() + timedelta(seconds=10)))
        db.session.commit()
    hits = issuer.jwks_hits
    assert set_user(app, tenant, issuer.token(kid)).status_code == 200  # the stale keys serve
    assert issuer.jwks_hits == hits


def test_ttl_from():
    assert jwks.ttl_from("max-age=7200, must-revalidate") == 7200
    assert jwks.ttl_from("s-maxage=10") == 3600
