"""Two gunicorn processes on one database fetch a provider's JWKS once between them: the cache is
the provider's row, shared, and the fetch is claimed there (requests counted at the local issuer)."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

from sqlalchemy import update

from webapp.extensions import db
from webapp.models import IdentityProvider
from webapp.models._types import utcnow
from webapp.services.idp import providers
from webapp.services.workspace import tenants

from ..conftest import PASSWORD
from ..servers import Server, migrated_app


def set_user(server: Server, tenant_id: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(f"{server.url}/api/v1/widget/{tenant_id}/set-user",
                                     data=json.dumps({"jwt": token}).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=15) as response:
            return response.status, json.loads(response.read())["user"]["id"]
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["error"]["code"]


def test_two_processes_fetch_the_jwks_once_between_them(tmp_path, issuer):
    first = issuer.add_key("RS256")
    url, app = migrated_app(tmp_path, "k", SIGNET_ALLOW_PRIVATE_URLS=True)  # the migrations make the table
    with app.app_context():
        tenant = tenants.create_tenant("Two", "two@example.com", PASSWORD)
        providers.add(tenant, issuer=issuer.url, audiences=["client-123"])
        tenant_id = tenant.public_id
        # The shared keys are past their freshness before either process starts.
        db.session.execute(update(IdentityProvider).values(jwks_expires_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    assert issuer.jwks_hits == 1
    env = {"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": "k", "SIGNET_ALLOW_PRIVATE_URLS": "1",
           "SIGNET_TEST_LOG_DIR": str(tmp_path)}
    a, b = Server(env), Server(env)
    try:
        assert set_user(a, tenant_id, issuer.token(first, sub="a-1")) == (200, "a-1")  # a refreshes
        assert set_user(b, tenant_id, issuer.token(first, sub="b-1")) == (200, "b-1")  # b reads a's fetch
        assert issuer.jwks_hits == 2
        later = issuer.add_key("ES256")
        assert set_user(a, tenant_id, issuer.token(later, sub="a-2")) == (200, "a-2")  # one refetch for the kid
        assert set_user(b, tenant_id, issuer.token(later, sub="b-2")) == (200, "b-2")  # found in the shared row
        assert issuer.jwks_hits == 3
        for server in (a, b):
            assert set_user(server, tenant_id, issuer.token(later, sub="again")) == (200, "again")
        assert issuer.jwks_hits == 3
    finally:
        a.stop()
        b.stop()
