"""The one family of refusals: a contract code, a sentence for people, and the field at fault.

Every rule that says no (the identity core, the services) raises one of these. None carries
an HTTP status or an exit code: each face (widget API, hosted pages, dashboard, CLI) decides
that once, by class (webapp/errors.py `http_status`, webapp/cli.py `command`). This module
imports nothing, so the identity core can use it and stay pure.
"""
from __future__ import annotations


class Refused(Exception):
    """A refusal with a contract code, a human message and, for field rules, the field path."""

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


class Invalid(Refused):
    """The input breaks a rule: fix it and send it again."""


class Unauthorized(Refused):
    """Who is asking cannot be established (a token refused, a user nobody knows)."""


class Forbidden(Refused):
    """Known and well-formed, but this workspace's settings or limits do not allow it."""


class NotFound(Refused):
    """Nothing of this name here (or nothing this caller may see)."""


class Conflict(Refused):
    """It clashes with what is stored already (a taken address, a reused idempotency key)."""


class Gone(Refused):
    """It existed but can no longer be used (a one-time link already used, or expired)."""
