"""Encryption at rest for signing secrets (API.md §7: encrypted with a key from SIGNET_SECRET_KEY).

The key is derived with HKDF-SHA256 from the app's secret key, so the secret key itself is never
used directly as an AES key and the same master can serve other purposes under other `info`
labels. Each value is sealed with AES-256-GCM under a fresh random 96-bit nonce; the associated
data is the row's kid, so a ciphertext copied onto another row does not decrypt.
"""
from __future__ import annotations

import base64
import binascii
import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

VERSION = "v1."
_INFO = b"signet/signing-secrets/v1"
_NONCE_BYTES = 12
_TAG_BYTES = 16


class SecretBox:
    """Seals and opens short text values with a key derived from `master_secret`."""

    def __init__(self, master_secret: str):
        if not isinstance(master_secret, str) or not master_secret:
            raise ValueError("SecretBox needs a non-empty master secret.")
        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_INFO).derive(
            master_secret.encode("utf-8")
        )
        self._aead = AESGCM(key)

    def encrypt(self, plaintext: str, aad: str) -> str:
        """``v1.`` + unpadded base64url of nonce || ciphertext+tag, bound to `aad` (the kid)."""
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, plaintext.encode("utf-8"), aad.encode("utf-8"))
        return VERSION + base64.urlsafe_b64encode(nonce + sealed).decode("ascii").rstrip("=")

    def decrypt(self, token: str, aad: str) -> str:
        """The plaintext; ValueError when the token was altered, or the key or `aad` differ."""
        raw = _decode(token)
        nonce, sealed = raw[:_NONCE_BYTES], raw[_NONCE_BYTES:]
        try:
            plaintext = self._aead.decrypt(nonce, sealed, aad.encode("utf-8"))
        except InvalidTag:
            raise ValueError("The sealed value does not open with this key and kid.") from None
        return plaintext.decode("utf-8")


def _decode(token: object) -> bytes:
    """The nonce || ciphertext bytes of a ``v1.`` value, or ValueError."""
    if not isinstance(token, str) or not token.startswith(VERSION):
        raise ValueError("Not a sealed value of a known version.")
    body = token[len(VERSION):]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("The sealed value is not valid base64url.") from None
    if len(raw) < _NONCE_BYTES + _TAG_BYTES:
        raise ValueError("The sealed value is too short.")
    return raw
