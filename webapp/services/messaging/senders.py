"""How a message's sender was identified when it was written (issue 16: "who said what").

A user's message records its session's kind (`sessions.HOW`: anonymous, unsigned, token,
login_link, email, or a kind a later identity source adds) and the key, secret or provider that
verified it; a staff reply records "staff" and the member. The inbox shows this on every
message, and flags a conversation whose user messages mix verified and unverified senders
(a visitor who became a signed-in user, or unsigned data sent for a user later verified).
"""
from __future__ import annotations

from collections.abc import Iterable

STAFF = "staff"
# Kinds that something signed vouched for (a token, a login link, an email sign-in, a provider).
UNVERIFIED = frozenset({"anonymous", "unsigned"})
_LABELS = {
    "anonymous": "Anonymous visitor",
    "unsigned": "Unsigned data",
    "token": "Verified token",
    "login_link": "Verified login link",
    "email": "Verified email sign-in",
    STAFF: "Staff",
}


def of_session(session) -> tuple[str, str | None]:
    """(sender_via, sender_key) for a message written with this widget session."""
    return session.how, getattr(session, "kid", None)


def of_member(member) -> tuple[str, str | None]:
    return STAFF, member.email if member is not None else None


def verified(via: str | None) -> bool | None:
    """True for a signed sender, False for anonymous or unsigned, None when not recorded or staff."""
    if via is None or via == STAFF:
        return None
    return via not in UNVERIFIED


def label(via: str | None, key: str | None = None) -> str:
    """The inbox's words for a sender: "Verified token (key k1)", "Unsigned data", …"""
    if via is None:
        return "Not recorded"
    text = _LABELS.get(via) or (f"Verified ({via})" if verified(via) else via)
    return f"{text} ({'key ' if via != STAFF else ''}{key})" if key else text


def mixed(messages: Iterable) -> bool:
    """Whether a conversation's user messages came from both verified and unverified senders."""
    seen = {verified(m.sender_via) for m in messages if m.author == "user"} - {None}
    return len(seen) > 1
