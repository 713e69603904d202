"""The services' refusals: the one family of webapp/refusals.py, plus the mailed-link refusals.

Services raise `Invalid("invalid_field", sentence, field)` and its siblings; the dashboard shows the
sentence beside the field, the CLI prints it, the HTTP faces map the class to a status.
"""
from __future__ import annotations

from ..refusals import Conflict, Forbidden, Gone, Invalid, NotFound, Refused, Unauthorized

__all__ = ["Refused", "Invalid", "Unauthorized", "Forbidden", "NotFound", "Conflict", "Gone",
           "LinkRefused", "LinkInvalid", "LinkGone", "link_gone"]


class LinkRefused(Refused):
    """A mailed one-time link (staff verify/reset, invitation, end-user email sign-in) that cannot be used."""


class LinkInvalid(LinkRefused, Invalid):
    """Unknown, malformed or revoked: `link_invalid`."""

    def __init__(self, message: str):
        super().__init__("link_invalid", message)


class LinkGone(LinkRefused, Gone):
    """Already used (`link_used`) or expired (`link_expired`)."""


def link_gone(used: bool, expired: bool, message_used: str, message_expired: str) -> LinkGone | None:
    """The refusal for a used or expired link (used wins), None when it is neither."""
    if used:
        return LinkGone("link_used", message_used)
    if expired:
        return LinkGone("link_expired", message_expired)
    return None
