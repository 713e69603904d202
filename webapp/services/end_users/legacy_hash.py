"""The legacy user hash (issue 14): what customers leaving Intercom, Chatwoot, Crisp, Front or Help
Scout already compute on their backend, accepted while the tenant's opt-in mode is on.

`setUser({id, email?, …, userHash})`: `userHash` is HMAC-SHA256 of the id (as a string, exactly
as sent), or of the email when no id is sent, keyed with the UTF-8 text of one of the tenant's
live HS256 signing secrets, in hex (any case) or base64 (standard or URL-safe, padded or not).
Every live secret is tried and each digest compared in constant time (hmac.compare_digest).

What it proves: the id (or the email), nothing else. The other fields are unsigned data: they
may change a user no token, provider, login link or email sign-in has verified, never one they
did; organizations stay under the unsigned rules (API.md §9), and an email is proven only when
the hash covered it. It never expires and can be replayed: docs/SECURITY.md says why a token is
better. Without an id the user is `email:<lowercased address>`, the id an email sign-in makes.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import time
from dataclasses import replace
from datetime import datetime, timezone

from ...identity.fields import check_email, invalid
from ...identity.userdata import parse_unsigned
from ...refusals import Unauthorized
from ..keys import keyring, usage
from ..keys.rejections import to_record
from .snapshots import TenantSettings

VIA = "legacy_hash"
FIELD = "userHash"
MAX_HASH_CHARS = 200


def applies(tenant: TenantSettings, body: dict) -> bool:
    """Whether this unsigned body is a legacy-hash call: the mode is on and it carries userHash.
    With the mode off, userHash is an unknown field like any other (parse_unsigned says so)."""
    return bool(tenant.legacy_user_hash) and FIELD in body


def parse(tenant: TenantSettings, body: dict, origin: str | None, now: float | None = None):
    """(UserData, what the hash proved) for a legacy-hash body, field rules first; a hash that no
    live secret made is 401 user_hash_invalid (recorded in the rejection log)."""
    rest = {key: value for key, value in body.items() if key != FIELD}
    user_hash = body[FIELD]
    if not isinstance(user_hash, str) or not 1 <= len(user_hash) <= MAX_HASH_CHARS:
        raise invalid(FIELD, "must be the hex or base64 HMAC-SHA256 your backend computed")
    if "id" in rest or "email" not in rest:
        data = parse_unsigned(rest)  # the id is required here, as in any unsigned call
        if data.id is None:
            raise invalid(FIELD, "an anonymous visitor ({id: null}) has nothing to prove; leave userHash out")
        message, covers = data.id, "id"
    else:
        email = check_email(rest["email"], "email")
        if email is None:
            raise invalid("email", "must be the address the userHash was computed from; got null")
        from .email_signin import external_id_for  # that module imports identify, which imports this one

        data = replace(parse_unsigned({**rest, "id": "legacy-hash"}), id=external_id_for(email))
        message, covers = email, "email"
    kid = matching_secret(tenant, message, user_hash, now)
    if kid is None:
        raise to_record(Unauthorized("user_hash_invalid", f"{FIELD}: does not match an HMAC-SHA256 of the {covers} "
                                     "with any live signing secret of this workspace", FIELD), tenant,
                        f"A legacy userHash for {covers} '{message[:100]}' matched no live signing secret.",
                        origin=origin, alg="HS256")
    return data, kid, covers


def matching_secret(tenant: TenantSettings, message: str, user_hash: str, now: float | None = None) -> str | None:
    """The kid of the live HS256 secret whose HMAC-SHA256 of `message` is `user_hash`, else None.
    Every secret is tried (at most three are live), each in constant time."""
    given = decode(user_hash)
    now = time.time() if now is None else now
    found = None
    for key in keyring.live_keys(tenant, datetime.fromtimestamp(now, timezone.utc)):
        if key.alg != "HS256" or not isinstance(key.key, bytes) or not key.key:
            continue
        digest = hmac.new(key.key, message.encode("utf-8"), hashlib.sha256).digest()
        if hmac.compare_digest(digest, given) and found is None:
            found = key.kid
    if found is not None:
        usage.count_verification(tenant.id, found, now)
    return found


def decode(user_hash: str) -> bytes:
    """The 32 bytes a hash names: hex (64 characters, any case) or base64 (standard or URL-safe,
    with or without padding); anything else is b"" (which matches no digest)."""
    text = user_hash.strip()
    if len(text) == 64:
        try:
            return bytes.fromhex(text)
        except ValueError:
            pass
    if len(text) in (43, 44):
        padded = text.rstrip("=") + "="
        try:
            raw = base64.b64decode(padded.replace("-", "+").replace("_", "/"), validate=True)
        except (binascii.Error, ValueError):
            return b""
        return raw if len(raw) == 32 else b""
    return b""

