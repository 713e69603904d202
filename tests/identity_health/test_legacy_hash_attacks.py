"""Security review of the legacy user hash (issue 14): forms that must never prove anything."""
from __future__ import annotations

import base64
import hashlib
import hmac

from .conftest import set_mode
from .test_legacy_hash import hexmac, post, row


def _digest(secret: str, message: str) -> bytes:
    return hmac.new(secret.encode(), message.encode(), hashlib.sha256).digest()


def test_truncated_or_reencoded_short_macs_never_pass(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    full = _digest(shop.secret, "u1")
    for forged in (full.hex()[:32], full.hex()[:63], full.hex() + "00", base64.b64encode(full[:16]).decode(),
                   base64.b64encode(full[:31]).decode(), base64.b64encode(full + b"\0").decode(),
                   " " + full.hex()[:62] + " ", full.hex()[:62] + "  ", "0" * 64, "=" * 44):
        response = post(shop, {"id": "u1", "userHash": forged})
        assert response.status_code in (400, 401), forged
    assert row(app, shop, "u1") is None


def test_a_hash_of_one_message_never_proves_another(app, shop):
    set_mode(app, shop, legacy_user_hash=True)
    of_email = hexmac(shop.secret, "victim@example.com")
    # The email's hash with an id: the id is what must be proven.
    assert post(shop, {"id": "victim-id", "email": "victim@example.com", "userHash": of_email}).status_code == 401
    # The id's hash does not prove the email sent beside it.
    assert post(shop, {"id": "mallory", "email": "victim@example.com",
                       "userHash": hexmac(shop.secret, "mallory")}).status_code == 200
    assert row(app, shop, "mallory").email_verified is False
    # Reserved ids stay out of reach of an id hash (the email form makes those).
    response = post(shop, {"id": "email:victim@example.com", "userHash": hexmac(shop.secret, "email:victim@example.com")})
    assert response.status_code == 400


def test_required_mode_with_legacy_off_refuses_the_hash(app, shop):
    set_mode(app, shop, verification_mode="required")
    response = post(shop, {"id": "u1", "userHash": hexmac(shop.secret, "u1")})
    assert response.status_code in (400, 403) and row(app, shop, "u1") is None
