"""The legacy user hash (issue 14 item 3): hashes computed the way each vendor's docs show."""
from __future__ import annotations

import base64
import json
import hashlib
import hmac

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import EndUser
from webapp.services.end_users import activity

from .conftest import set_mode


def hexmac(secret: str, message: str) -> str:
    """Intercom (OpenSSL::HMAC.hexdigest('sha256', secret, user_id)), Chatwoot
    (hash_hmac('sha256', identifier, hmac_token)), Crisp, Front (createHmac('sha256',
    secret).update(email).digest('hex')) and Help Scout (hexdigest of the email): all hex."""
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()


def b64mac(secret: str, message: str) -> str:
    """The same digest as Node's .digest('base64')."""
    return base64.b64encode(hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()).decode()


def post(shop, body: dict, visitor: str | None = None):
    headers = {"X-Signet-Visitor": visitor} if visitor else {}
    return shop.api_client().post(shop.url("set-user"), json=body, headers=headers)


def row(app, shop, external_id: str) -> EndUser:
    with app.app_context():
        user = db.session.scalar(select(EndUser).where(EndUser.tenant_id == shop.id, EndUser.external_id == external_id))
        db.session.expunge_all()
        return user


def test_mode_off_user_hash_is_an_unknown_field(app, shop):
    response = post(shop, {"id": "u1", "userHash": hexmac(shop.secret, "u1")})
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "unknown_field"
    assert response.get_json()["error"]["field"] == "userHash"
    assert row(app, shop, "u1") is None


def test_cli_turns_the_mode_on_and_off(app, shop):
    runner = app.test_cli_runner()
    result = runner.invoke(args=["signet", "tenant", "set", shop.public_id, "--legacy-user-hash", "on"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["legacy_user_hash"] == "on"
    assert post(shop, {"id": "u1", "userHash": hexmac(shop.secret, "u1")}).status_code == 200
    result = runner.invoke(args=["signet", "tenant", "set", shop.public_id, "--legacy-user-hash", "off"])
    assert json.loads(result.output)["legacy_user_hash"] == "off"
    assert post(shop, {"id": "u1", "userHash": hexmac(shop.secret, "u1")}).get_json()["error"]["code"] == "unknown_field"


def test_intercom_and_chatwoot_hex_of_the_id_verify_the_user(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    intercom = post(shop, {"id": "user-123", "email": "jane@example.com", "name": "Jane",
                           "userHash": hexmac(shop.secret, "user-123")})
    assert intercom.status_code == 200, intercom.get_json()
    assert intercom.get_json()["user"]["verified"] is True
    chatwoot = post(shop, {"id": 42, "userHash": hexmac(shop.secret, "42").upper()})  # integer ids hash as text
    assert chatwoot.status_code == 200 and chatwoot.get_json()["user"]["id"] == "42"
    user = row(app, shop, "user-123")
    assert (user.verified, user.verified_via, user.verified_kid, user.name) == (True, "legacy_hash", shop.secret_kid, "Jane")
    assert user.email_verified is False  # the hash covered the id only
    with app.app_context():
        assert activity.how_verified(user)[1].startswith("legacy hash, no expiry")


def test_crisp_front_help_scout_hex_of_the_email_without_id(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    response = post(shop, {"email": "John@Doe.name", "name": "John", "userHash": hexmac(shop.secret, "John@Doe.name")})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["user"]["id"] == "email:john@doe.name"
    user = row(app, shop, "email:john@doe.name")
    assert user.verified and user.email_verified and user.verified_via == "legacy_hash"


def test_base64_hash_and_every_live_secret(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    assert post(shop, {"id": "b64", "userHash": b64mac(shop.secret, "b64")}).status_code == 200
    assert post(shop, {"id": "b64u", "userHash": b64mac(shop.secret, "b64u").rstrip("=").replace("+", "-").replace("/", "_")}).status_code == 200


def test_wrong_hash_is_401_and_changes_nothing(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    for bad in (hexmac(shop.secret, "other"), hexmac("not-the-secret-at-all-but-long-enough", "u1"), "zz", "0" * 64):
        response = post(shop, {"id": "u1", "name": "Mallory", "userHash": bad})
        assert response.status_code == 401, bad
        assert response.get_json()["error"] == {"code": "user_hash_invalid", "field": "userHash",
                                                "message": response.get_json()["error"]["message"]}
    assert post(shop, {"id": "u1", "userHash": 5}).get_json()["error"]["code"] == "invalid_field"
    assert row(app, shop, "u1") is None


def test_revoked_secret_hash_is_refused(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    with app.app_context():
        from webapp.services.keys import keyring
        from webapp.services.workspace import tenants

        keyring.revoke(tenants.get_tenant(shop.public_id), shop.secret_kid)
    assert post(shop, {"id": "u1", "userHash": hexmac(shop.secret, "u1")}).status_code == 401


def test_required_mode_accepts_a_correct_hash_only_while_legacy_is_on(app, shop):
    set_mode(app, shop, verification_mode="required", legacy_user_hash=True)
    assert post(shop, {"id": "u1", "userHash": hexmac(shop.secret, "u1")}).status_code == 200
    assert post(shop, {"id": "u2"}).get_json()["error"]["code"] == "verification_required"
    set_mode(app, shop, legacy_user_hash=False)
    assert post(shop, {"id": "u1", "userHash": hexmac(shop.secret, "u1")}).get_json()["error"]["code"] == "unknown_field"


def test_legacy_user_can_be_changed_by_a_hash_and_not_by_unsigned_data(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    assert post(shop, {"id": "u1", "name": "One", "userHash": hexmac(shop.secret, "u1")}).status_code == 200
    assert post(shop, {"id": "u1", "name": "Two", "userHash": hexmac(shop.secret, "u1")}).status_code == 200
    assert row(app, shop, "u1").name == "Two"
    assert post(shop, {"id": "u1", "name": "Three"}).get_json()["error"]["code"] == "verification_required"
    assert row(app, shop, "u1").name == "Two"


def test_a_token_verified_user_is_never_changed_by_a_legacy_hash(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    shop.set_user({"jwt": shop.sign({"id": "alice", "name": "Alice", "email": "alice@example.com",
                                     "organizations": [{"id": "acme", "name": "Acme"}]}, "EdDSA")})
    before = row(app, shop, "alice")
    response = post(shop, {"id": "alice", "name": "Mallory", "email": "mallory@example.com", "attrs": {"x": 1},
                           "organizations": [], "userHash": hexmac(shop.secret, "alice")})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()["user"]
    assert body["name"] == "Alice" and body["organizations"][0]["id"] == "acme"  # identified, unchanged
    after = row(app, shop, "alice")
    for column in ("name", "email", "attrs", "verified_via", "verified_kid", "verified_alg", "version", "email_verified"):
        assert getattr(after, column) == getattr(before, column), column
    # The session it made works (a legacy-hash session), and ends when the legacy mode is turned off.
    session = response.get_json()["session"]
    headers = {"Authorization": f"Bearer {session}"}
    assert shop.api_client().get(shop.url("conversations"), headers=headers).status_code == 200
    set_mode(app, shop, legacy_user_hash=False)
    assert shop.api_client().get(shop.url("conversations"), headers=headers).status_code == 401


def test_legacy_hash_never_makes_an_organization_signed(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    shop.set_user({"jwt": shop.sign({"id": "bob", "organizations": [{"id": "signed-org", "name": "Signed"}]}, "EdDSA")})
    response = post(shop, {"id": "u9", "organizations": [{"id": "signed-org", "name": "Renamed"}],
                           "userHash": hexmac(shop.secret, "u9")})
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "verification_required"
    assert row(app, shop, "u9") is None
