"""Read-side queries behind the inbox, every one built on access.scoped().

Conversations are listed by latest activity, (updated_at DESC, id DESC): the order of the
(tenant_id, updated_at) index. A thread shows its newest messages through (conversation_id, id).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from flask import abort
from sqlalchemy import Select, func, select
from sqlalchemy.orm import joinedload

from ...extensions import db
from ...models import Conversation, EndUser, Message
from ...services.messaging import conversations, inbox, senders
from ..users import details
from .. import paging
from ..access import scoped

STATUS_FILTERS = {"open": "Open", "closed": "Closed", "all": "All"}
CONVERSATION_ORDER = paging.Order((Conversation.updated_at, Conversation.id), True,
                                  lambda c: (c.updated_at, c.id), (datetime, int))
THREAD_MESSAGES = 200
MAX_WATCHED = 100


@dataclass(frozen=True)
class InboxQuery:
    """The list's filters: `?status=open|closed|all` (open by default) and `?verified=1`."""

    status: str = "open"
    verified: bool = False

    @classmethod
    def from_args(cls, args) -> InboxQuery:
        status = args.get("status", "open") or "open"
        if status not in STATUS_FILTERS:
            abort(400, "status must be open, closed or all.")
        return cls(status=status, verified=args.get("verified") in ("1", "on", "true"))

    @property
    def status_choices(self) -> list[tuple[str, str]]:
        """The status filter's (value, label) options, in order (STATUS_FILTERS)."""
        return list(STATUS_FILTERS.items())

    def args(self) -> dict:
        out: dict = {}
        if self.status != "open":
            out["status"] = self.status
        if self.verified:
            out["verified"] = "1"
        return out

    def statement(self) -> Select:
        stmt = scoped(Conversation).options(joinedload(Conversation.user))
        if self.status != "all":
            stmt = stmt.where(Conversation.status == self.status)
        if self.verified:
            stmt = stmt.join(EndUser, EndUser.id == Conversation.user_id).where(EndUser.verified.is_(True))
        return stmt


@dataclass
class ListItem:
    conversation: Conversation
    last: Message | None


def conversations_page(query: InboxQuery, where: paging.Position) -> paging.Page:
    page = paging.fetch(query.statement(), CONVERSATION_ORDER, where, Conversation.id)
    last = last_messages([c.id for c in page.items])
    page.items = [ListItem(c, last.get(c.id)) for c in page.items]
    return page


def last_messages(conversation_ids: list[int]) -> dict[int, Message]:
    if not conversation_ids:
        return {}
    # Two steps: the ids from the (conversation_id, id) index, then those rows by primary key. As
    # one statement, PostgreSQL reads every message of the tenant to apply the tenant condition.
    newest = list(db.session.scalars(select(func.max(Message.id)).where(Message.conversation_id.in_(conversation_ids))
                                     .group_by(Message.conversation_id)))
    return {m.conversation_id: m for m in db.session.scalars(scoped(Message).where(Message.id.in_(newest)))}


def conversation_or_404(public_id: str) -> Conversation:
    return db.first_or_404(scoped(Conversation).where(Conversation.public_id == public_id)
                           .options(joinedload(Conversation.user)))


def thread_messages(conversation: Conversation) -> tuple[list[Message], bool]:
    """The newest messages, oldest first, and whether older ones were left out."""
    rows = list(db.session.scalars(scoped(Message).where(Message.conversation_id == conversation.id)
                                   .order_by(Message.id.desc()).limit(THREAD_MESSAGES + 1)))
    return rows[:THREAD_MESSAGES][::-1], len(rows) > THREAD_MESSAGES


def watched(public_ids: list[str]) -> list[Conversation]:
    """The listed conversations' current state, for the list's live unread markers."""
    ids = [p for p in public_ids if p][:MAX_WATCHED]
    if not ids:
        return []
    return list(db.session.scalars(scoped(Conversation).where(Conversation.public_id.in_(ids))))


@dataclass
class Thread:
    conversation: Conversation
    messages: list[Message]
    earlier: bool  # older messages were left out
    read_before: int  # staff had read up to this message id when the page was asked for
    panel: details.Panel
    mixed: bool = False  # user messages from both verified and unverified senders (services/messaging/senders.py)


def last_message_id(conversation: Conversation) -> int | None:
    return db.session.scalar(select(func.max(Message.id)).where(Message.conversation_id == conversation.id))


def open_thread(public_id: str) -> Thread:
    """The thread a member opened: marked read up to its newest message (only if that changes
    something), then read for the page, so everything marked read is on the page."""
    conversation = conversation_or_404(public_id)
    read_before, newest = conversation.staff_read_message_id, last_message_id(conversation)
    if inbox.needs_marking(conversation, newest):
        inbox.mark_read(conversation.id, newest)
        conversation = conversation_or_404(public_id)
    messages, earlier = thread_messages(conversation)
    return Thread(conversation, messages, earlier, read_before, details.panel(conversation.user, conversation),
                  senders.mixed(messages))


def poll(conversation: Conversation, after: str | None) -> list[dict]:
    """Messages newer than the `after` message (public id) for the open thread, which the member
    is looking at, so they count as read."""
    try:
        items = conversations.messages(conversation, after, with_sender=True)
    except conversations.NotReachable:
        abort(404)
    newest = None
    if items:  # exactly what was delivered: a message arriving meanwhile stays unread
        newest = db.session.scalar(select(Message.id).where(Message.conversation_id == conversation.id,
                                                            Message.public_id == items[-1]["id"]))
    if inbox.needs_marking(conversation, newest):
        inbox.mark_read(conversation.id, newest)
    return items
