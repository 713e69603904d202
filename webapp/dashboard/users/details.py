"""The user details panel shown beside every thread and on the user page: who this is, and how sure."""
from __future__ import annotations

from dataclasses import dataclass, field

from ...extensions import db
from ...identity.userdata import is_safe_https_url
from ...models import Conversation, EndUser, Organization
from ...services.end_users.activity import how_verified
from ..access import scoped

OTHER_CONVERSATIONS = 20
USER_PAGE_CONVERSATIONS = 200
SOURCES = {"widget": "Widget (setUser)", "login_link": "Login link", "email": "Email sign-in"}


@dataclass
class Panel:
    user: EndUser
    state: str  # "verified" | "unverified" | "anonymous"
    how: str
    avatar_url: str | None  # only an https URL that passes the render-time check
    initials: str
    source: str
    organizations: list[Organization] = field(default_factory=list)
    conversations: list[Conversation] = field(default_factory=list)
    more_conversations: bool = False


def initials(user: EndUser) -> str:
    words = (user.name or "").split()
    if words:
        return "".join(w[0] for w in words[:2]).upper()
    for text in (user.email, user.external_id):
        if text:
            return text[0].upper()
    return "?"


def safe_avatar(value: str | None) -> str | None:
    """Checked again at render time: a row written before the rules (or by hand) is not trusted."""
    return value if is_safe_https_url(value) else None


def panel(user: EndUser, current: Conversation | None = None, limit: int = OTHER_CONVERSATIONS) -> Panel:
    """Everything the panel shows; `current` (the open thread) is left out of the conversations."""
    state, how = how_verified(user)
    stmt = (scoped(Conversation).where(Conversation.user_id == user.id)
            .order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(limit + 1))
    if current is not None:
        stmt = stmt.where(Conversation.id != current.id)
    others = list(db.session.scalars(stmt))
    return Panel(
        user=user, state=state, how=how, avatar_url=safe_avatar(user.avatar_url), initials=initials(user),
        source=SOURCES.get(user.created_via, user.created_via),
        organizations=[m.organization for m in user.memberships],
        conversations=others[:limit], more_conversations=len(others) > limit,
    )

