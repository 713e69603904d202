"""The identity core's refusals, with the contract's codes (API.md §3) and no HTTP status."""
from __future__ import annotations

from webapp.refusals import Invalid, Refused, Unauthorized

__all__ = ["Refused", "TokenRefused", "FieldRefused", "KeyRefused"]


class TokenRefused(Unauthorized):
    """A signed token refused by the verifier (`token_*` codes)."""


class FieldRefused(Invalid):
    """User data that breaks a field rule: `invalid_field` or `unknown_field`."""


class KeyRefused(Invalid):
    """An uploaded public key (or a key setting) that cannot be accepted; the message is for people."""

    def __init__(self, message: str, field: str = "pem"):
        super().__init__("invalid_key", message, field)
