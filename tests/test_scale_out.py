"""Two Signet processes on one PostgreSQL: a key rotated through one is honoured by the other at once."""
import json
import re
import time
import urllib.error
import urllib.request

import jwt
import pytest

from webapp.extensions import db
from webapp.services.keys import keyring
from webapp.services.workspace import tenants

from .conftest import PASSWORD, make_app
from .helpers import csrf_of
from .servers import HttpClient, Server, migrate


def set_user(server: Server, tenant_id: str, token: str) -> tuple[int, str]:
    request = urllib.request.Request(f"{server.url}/api/v1/widget/{tenant_id}/set-user",
                                     data=json.dumps({"jwt": token}).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, "ok"
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())["error"]["code"]


def token(secret: str, kid: str, user: str = "u1") -> str:
    return jwt.encode({"id": user, "exp": int(time.time()) + 600}, secret, algorithm="HS256", headers={"kid": kid})


@pytest.mark.postgres
def test_key_rotated_and_revoked_through_one_process_applies_in_the_other(postgres_url, tmp_path):
    migrate(postgres_url, "k")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=postgres_url, SECRET_KEY="k")
    with app.app_context():
        tenant = tenants.create_tenant("Rotate", "rotate@example.com", PASSWORD)
        old_row, old_secret = keyring.create_secret(tenant)
        tenant_id, old_kid = tenant.public_id, old_row.kid
        db.session.remove()
        db.engine.dispose()
    env = {"SIGNET_DATABASE_URL": postgres_url, "SIGNET_SECRET_KEY": "k"}
    a, b = Server(env), Server(env)
    try:
        assert set_user(b, tenant_id, token(old_secret, old_kid)) == (200, "ok")  # b has cached the old key

        dashboard = HttpClient(a.url)
        dashboard.post_form("/login", {"email": "rotate@example.com", "password": PASSWORD,
                                       "csrf_token": csrf_of(dashboard.get("/login"))})
        status, html = dashboard.post_form("/settings/keys/secret", {
            "replace": "y", "csrf_token": csrf_of(dashboard.get("/settings/keys"))})
        assert status == 201
        new_secret = re.search(r'id="new-secret"[^>]*value="([^"]+)"', html).group(1)
        new_kid = re.search(r"Secret <code>([^<]+)</code>", html).group(1)

        assert set_user(b, tenant_id, token(new_secret, new_kid)) == (200, "ok")  # the new key, at once
        assert set_user(b, tenant_id, token(old_secret, old_kid)) == (200, "ok")  # the old one, in grace

        status, _ = dashboard.post_form(f"/settings/keys/{old_kid}/revoke",
                                        {"csrf_token": csrf_of(dashboard.get("/settings/keys"))})
        assert status == 200  # followed the redirect back to the keys page
        assert set_user(b, tenant_id, token(old_secret, old_kid)) == (401, "token_unknown_key")
        assert set_user(b, tenant_id, token(new_secret, new_kid)) == (200, "ok")
    finally:
        a.stop()
        b.stop()
