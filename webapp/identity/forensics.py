"""Why a signature did not verify: the usual library mistakes, found from the token and the
tenant's own keys only.

Run only after a token failed with token_bad_signature, and bounded: at most `budget` extra
signature or HMAC public-key checks (the widget path gives 6) and 16 HMACs, so a flood of junk tokens costs a few
checks each, never a scan of every key. A diagnosis names key ids, never key material.

- ES256 in DER (ASN.1 SEQUENCE of r and s) where JWS needs the raw 64-byte r‖s (RFC 7518 §3.4);
- PS256 with an RSASSA-PSS salt other than 32 bytes (RFC 7518 §3.5: salt = hash length);
- HS256 with the secret base64-decoded, or followed by a newline or a space;
- a signature made with another of the tenant's secrets or keys (live, replaced or revoked) than
  the one the token names.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from .verifier import VerificationKey, _signature_verifies

DER_FIX = ("Ask for the IEEE P1363 form (raw r‖s, 64 bytes): Node's crypto.sign(\"sha256\", data, "
           "{ key, dsaEncoding: \"ieee-p1363\" }), Java's Signature.getInstance(\"SHA256withECDSAinP1363Format\"), "
           "Python's decode_dss_signature then r and s as 32 bytes each; JWT libraries (jose, jsonwebtoken, "
           "PyJWT) do it for you.")
SALT_FIX = ("Sign PS256 with a 32-byte salt: Python cryptography's padding.PSS(mgf=padding.MGF1(hashes.SHA256()), "
            "salt_length=32) (not PSS.MAX_LENGTH), Node's crypto.sign with saltLength: 32 "
            "(RSA_PSS_SALTLEN_DIGEST), Java's PSSParameterSpec(\"SHA-256\", \"MGF1\", MGF1ParameterSpec.SHA256, 32, 1).")
BASE64_FIX = ("Use the secret's text exactly as shown as the HMAC key (its UTF-8 bytes): never "
              "Buffer.from(secret, \"base64\") or base64.b64decode(secret).")
SPACE_FIX = ("Strip the secret where your backend reads it: a line of a .env file or a file read "
             "keeps its newline (secret.trim() in Node, secret.strip() in Python).")


CHEAP_CHECKS = 16


@dataclass(frozen=True)
class Suspect:
    """One of the tenant's secrets or keys of the token's algorithm, whatever its state."""

    key: VerificationKey
    revoked_at: datetime | None = None
    grace_ends_at: datetime | None = None


@dataclass(frozen=True)
class Diagnosis:
    """`code` for tests and logs, `cause` (a sentence, also logged), `fix` (the How to fix line)."""

    code: str
    cause: str
    fix: str


class _Budget:
    """Signature checks left: `checks` public-key ones, and CHEAP_CHECKS HMACs (microseconds each)."""

    def __init__(self, checks: int):
        self.left = checks
        self.cheap_left = CHEAP_CHECKS

    def spend(self, cheap: bool = False) -> bool:
        if cheap:
            self.cheap_left -= 1
            return self.cheap_left >= 0
        self.left -= 1
        return self.left >= 0


def diagnose_signature(token: str, named: Sequence[VerificationKey], suspects: Sequence[Suspect],
                       budget: int = 6, when: Callable[[datetime], str] = str) -> Diagnosis | None:
    """The likely mistake behind a token_bad_signature, or None. `named`: the keys the token was
    tried with (its kid's, or up to two without kid); `suspects`: the tenant's keys of the
    token's algorithm, newest first, live or not; `when` formats a time for the sentences."""
    signing_input, _, signature = token.rpartition(".")
    message = signing_input.encode("ascii")
    try:
        raw = base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4))
    except (binascii.Error, ValueError):
        return None
    spend = _Budget(budget)
    for key in named:
        found = _same_key_mistake(key, message, raw, spend)
        if found:
            return found
    named_kids = {key.kid for key in named}
    for suspect in suspects:
        if suspect.key.kid in named_kids or not spend.spend(cheap=suspect.key.alg == "HS256"):
            continue
        if _signature_verifies(message, raw, suspect.key):
            return _other_key(suspect, named, when)
    return None


def _same_key_mistake(key: VerificationKey, message: bytes, raw: bytes, spend: _Budget) -> Diagnosis | None:
    if key.alg == "ES256" and len(raw) != 64 and raw[:1] == b"\x30" and spend.spend():
        if _verifies_der(key.prepared, message, raw):
            return Diagnosis("es256_der_signature",
                             f"The ES256 signature is DER-encoded ({len(raw)} bytes of ASN.1); JWS needs the raw "
                             f"64-byte r‖s (RFC 7518 §3.4). It is otherwise right: made with {key.kid}.", DER_FIX)
    if key.alg == "PS256" and spend.spend() and _verifies_any_salt(key.prepared, message, raw):
        return Diagnosis("ps256_salt_length",
                         f"The PS256 signature verifies with {key.kid} only with a salt length other than 32 "
                         "bytes; RFC 7518 §3.5 requires the salt to be as long as the SHA-256 hash (32 bytes).",
                         SALT_FIX)
    if key.alg == "HS256" and isinstance(key.key, bytes):
        return _secret_mistake(key, message, raw, spend)
    return None


def _secret_mistake(key: VerificationKey, message: bytes, raw: bytes, spend: _Budget) -> Diagnosis | None:
    secret = key.key
    for variant in _decoded(secret):
        if spend.spend(cheap=True) and _hmac_matches(variant, message, raw):
            return Diagnosis("hs256_secret_base64_decoded",
                             f"The token was signed with the secret {key.kid} base64-decoded; the HMAC key is "
                             "the secret's text itself.", BASE64_FIX)
    for suffix, name in ((b"\n", "a newline"), (b"\r\n", "a newline (CRLF)"), (b" ", "a space")):
        for variant in (secret + suffix, suffix.lstrip(b"\r") + secret):
            if spend.spend(cheap=True) and _hmac_matches(variant, message, raw):
                where = "followed" if variant.startswith(secret) else "preceded"
                return Diagnosis("hs256_secret_whitespace",
                                 f"The token was signed with the secret {key.kid} {where} by {name}.", SPACE_FIX)
    return None


def _decoded(secret: bytes) -> list[bytes]:
    """What base64 decoders make of the secret's text: Node's Buffer.from(…, "base64") (both
    alphabets), Python's b64decode (drops '-' and '_'), with and without the sk_ prefix."""
    found: list[bytes] = []
    text = secret.decode("ascii", "replace")
    for candidate in (text, text.removeprefix("sk_")):
        for decode in (lambda t: base64.urlsafe_b64decode(t + "=" * (-len(t) % 4)),
                       lambda t: base64.b64decode(_std(t) + "=" * (-len(_std(t)) % 4))):
            try:
                value = decode(candidate)
            except (binascii.Error, ValueError):
                continue
            if value and value not in found:
                found.append(value)
    return found


def _std(text: str) -> str:
    return "".join(ch for ch in text if ch.isalnum() or ch in "+/")


def _hmac_matches(key: bytes, message: bytes, raw: bytes) -> bool:
    return hmac.compare_digest(hmac.new(key, message, hashlib.sha256).digest(), raw)


def _verifies_der(public_key: object, message: bytes, der: bytes) -> bool:
    if not isinstance(public_key, ec.EllipticCurvePublicKey):
        return False
    try:
        public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True


def _verifies_any_salt(public_key: object, message: bytes, raw: bytes) -> bool:
    if not isinstance(public_key, rsa.RSAPublicKey):
        return False
    try:
        public_key.verify(raw, message, padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=padding.PSS.AUTO),
                          hashes.SHA256())
    except (InvalidSignature, ValueError):
        return False
    return True


def _other_key(suspect: Suspect, named: Sequence[VerificationKey], when: Callable[[datetime], str]) -> Diagnosis:
    kid = suspect.key.kid
    meant = " or ".join(key.kid for key in named) or "the key its kid names"
    what = "secret" if suspect.key.alg == "HS256" else "key"
    if suspect.revoked_at is not None:
        state, fix = (f", which was revoked at {when(suspect.revoked_at)}",
                      f"{kid} no longer works: sign with a live {what} and put its kid in the header.")
    elif suspect.grace_ends_at is not None:
        state, fix = (f", which was replaced and works until {when(suspect.grace_ends_at)}",
                      f"Move your backend to the newest {what} and put its kid in the header.")
    else:
        state, fix = "", f"Put kid {kid} in the token's header (or sign with the {what} of {meant})."
    return Diagnosis("other_key",
                     f"The signature verifies with this workspace's {what} {kid}{state}, not with {meant}, "
                     "the one the token names.", fix)
