"""Passkeys (WebAuthn) as a second factor for staff (issue 17), with py_webauthn.

- The relying party is the host that serves the dashboard (`rp_id`, from SIGNET_PUBLIC_URL or the
  trusted request host: infra/hosts.public_base) and the origin is checked against that base.
- The challenge is made here, kept by the caller in the browser's signed session and used once
  (the views pop it before verifying), and expires with the pending login or in 5 minutes. A copy
  of the cookie taken before the challenge was used still holds it, so each challenge is also
  marked used in the shared throttle store (`use_challenge`: the database or Redis, every process).
- A member may register several, each named; a credential is found by its id, and one that
  belongs to another member is refused (and audited) before any signature is looked at.
- The stored row holds the credential's public key and signature counter: nothing secret.
"""
from __future__ import annotations

import json
import unicodedata

import webauthn
from sqlalchemy import delete, func, select, update
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url
from webauthn.helpers.exceptions import WebAuthnException
from webauthn.helpers.structs import (AuthenticatorSelectionCriteria, PublicKeyCredentialDescriptor,
                                      ResidentKeyRequirement, UserVerificationRequirement)

from ...extensions import db
from ...infra.database import writing
from ...models import Member, Passkey
from ...models._types import utcnow
from ..errors import Conflict, Invalid, NotFound
from . import throttle, twofactor

RP_NAME = "Signet"
CHALLENGE_ONCE = throttle.Limit("passkey-challenge", 1, 15 * 60)  # longer than any challenge lives
MAX_PER_MEMBER = 20
_BAD_INPUT = (WebAuthnException, ValueError, TypeError, KeyError, AttributeError)


def of_member(member_id: int) -> list[Passkey]:
    return list(db.session.scalars(select(Passkey).where(Passkey.member_id == member_id).order_by(Passkey.id)))


def _descriptors(member_id: int) -> list[PublicKeyCredentialDescriptor]:
    return [PublicKeyCredentialDescriptor(id=base64url_to_bytes(p.credential_id)) for p in of_member(member_id)]


def registration_options(member: Member, rp_id: str) -> tuple[dict, str]:
    """The options for navigator.credentials.create() and the challenge to keep (base64url)."""
    options = webauthn.generate_registration_options(
        rp_id=rp_id, rp_name=RP_NAME, user_name=member.email, user_display_name=member.email,
        user_id=f"signet-member-{member.id}".encode(), exclude_credentials=_descriptors(member.id),
        authenticator_selection=AuthenticatorSelectionCriteria(
            resident_key=ResidentKeyRequirement.PREFERRED, user_verification=UserVerificationRequirement.PREFERRED),
    )
    return json.loads(webauthn.options_to_json(options)), bytes_to_base64url(options.challenge)


def use_challenge(challenge: str) -> bool:
    """Mark a challenge used, everywhere at once; False when it was used already (a replay from a
    copy of the session cookie). A shared store that is down and set to fail open lets it pass:
    the cookie's own one-use rule still holds then."""
    return throttle.hit([(CHALLENGE_ONCE, challenge)]) is None


def check_name(name: str | None) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 64 or any(unicodedata.category(c) in ("Cc", "Cf") for c in name):
        raise Invalid("invalid_field", "Name the passkey: 1 to 64 characters, e.g. 'work laptop'.", "name")
    return name


def register(member: Member, credential: object, challenge: str, *, rp_id: str, origin: str, name: str | None) -> Passkey:
    """Verify the browser's answer to `registration_options` and keep the passkey (audited)."""
    name = check_name(name)
    try:
        verified = webauthn.verify_registration_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge), expected_rp_id=rp_id,
            expected_origin=origin)
    except _BAD_INPUT:
        raise Invalid("invalid_field", "The passkey could not be verified. Try again.", "credential") from None
    credential_id = bytes_to_base64url(verified.credential_id)
    with writing():
        count = db.session.scalar(select(func.count()).select_from(Passkey).where(Passkey.member_id == member.id))
        if count >= MAX_PER_MEMBER:
            raise Invalid("invalid_field", f"At most {MAX_PER_MEMBER} passkeys: remove one first.", "credential")
        if db.session.scalar(select(Passkey.id).where(Passkey.credential_id == credential_id)) is not None:
            raise Conflict("already_registered", "This passkey is registered already.", "credential")
        row = Passkey(member_id=member.id, name=name, credential_id=credential_id,
                      public_key=verified.credential_public_key, sign_count=verified.sign_count)
        db.session.add(row)
        twofactor._record(member, "passkey.added", after={"name": name})
    return row


def remove(member: Member, passkey_id: int) -> None:
    with writing():
        row = db.session.scalar(select(Passkey).where(Passkey.id == passkey_id, Passkey.member_id == member.id))
        if row is None:
            raise NotFound("not_found", "No such passkey.")
        db.session.execute(delete(Passkey).where(Passkey.id == row.id))
        twofactor._record(member, "passkey.removed", before={"name": row.name})
        twofactor.drop_codes_without_factor(member.id)


def authentication_options(member_id: int, rp_id: str) -> tuple[dict, str]:
    """Options for navigator.credentials.get(), naming the member's own passkeys."""
    options = webauthn.generate_authentication_options(
        rp_id=rp_id, allow_credentials=_descriptors(member_id),
        user_verification=UserVerificationRequirement.PREFERRED)
    return json.loads(webauthn.options_to_json(options)), bytes_to_base64url(options.challenge)


def authenticate(member: Member, credential: object, challenge: str, *, rp_id: str, origin: str) -> str:
    """'ok', 'other_member' (a passkey registered by someone else), or 'wrong'."""
    credential_id = credential.get("id") if isinstance(credential, dict) else None
    if not isinstance(credential_id, str) or not 1 <= len(credential_id) <= 1400:
        return "wrong"
    row = db.session.scalar(select(Passkey).where(Passkey.credential_id == credential_id))
    if row is None:
        return "wrong"
    if row.member_id != member.id:
        return "other_member"
    try:
        verified = webauthn.verify_authentication_response(
            credential=credential, expected_challenge=base64url_to_bytes(challenge), expected_rp_id=rp_id,
            expected_origin=origin, credential_public_key=row.public_key, credential_current_sign_count=row.sign_count)
    except _BAD_INPUT:
        return "wrong"
    with writing():
        # A counter that did not move on (when the authenticator keeps one) means a cloned key:
        # the library refused that above; the UPDATE keeps two racing uses from both passing.
        moved = db.session.execute(update(Passkey).where(
            Passkey.id == row.id, (Passkey.sign_count < verified.new_sign_count) | (Passkey.sign_count == 0),
        ).values(sign_count=verified.new_sign_count, last_used_at=utcnow())).rowcount
    return "ok" if moved == 1 else "wrong"
