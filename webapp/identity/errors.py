"""Typed errors carrying the contract's codes (API.md §3)."""
from __future__ import annotations


class IdentityError(Exception):
    """A refusal with a contract code, a human message and, for field rules, the field path."""

    status = 400

    def __init__(self, code: str, message: str, field: str | None = None):
        super().__init__(message)
        self.code = code
        self.message = message
        self.field = field

    def as_dict(self) -> dict:
        body = {"code": self.code, "message": self.message}
        if self.field is not None:
            body["field"] = self.field
        return body


class TokenError(IdentityError):
    """A signed token refused by the verifier (always 401)."""

    status = 401


class FieldError(IdentityError):
    """User data that breaks a field rule: `invalid_field` or `unknown_field` (400)."""

    status = 400


class KeyRejected(ValueError):
    """An uploaded public key (or a key setting) that cannot be accepted; message is for people."""
