"""What staff do to a conversation besides replying (conversations.staff_reply): read it, close it, reopen it.

The callers found the conversation through the member's tenant scope; these take its row id.
"""
from __future__ import annotations

from sqlalchemy import select, update

from ...infra.database import writing
from ...extensions import db
from ...models import Conversation, Message
from .. import events
from ...refusals import Conflict, Invalid

STATUSES = ("open", "closed")


def mark_read(conversation_id: int, up_to: int) -> None:
    """Staff have seen every message up to `up_to`: the unread marker goes, unless a user
    message newer than that arrived meanwhile. The read position never moves backwards."""
    newer = (select(Message.id).where(Message.conversation_id == conversation_id, Message.id > up_to,
                                      Message.author == "user").exists())
    with writing():
        db.session.execute(
            update(Conversation)
            .where(Conversation.id == conversation_id, Conversation.staff_read_message_id <= up_to)
            .values(staff_read_message_id=up_to, unread_by_staff=newer)
        )


def needs_marking(conversation: Conversation, up_to: int | None) -> bool:
    """Whether showing messages up to `up_to` changes anything (a page view costs no write otherwise)."""
    if up_to is None:
        return False
    return conversation.unread_by_staff or conversation.staff_read_message_id < up_to


def set_status(conversation_id: int, status: str) -> None:
    """Close or reopen; `updated_at` stays, so the inbox order is by conversation activity only.
    The status is read under the row's lock (SQLite: the write lock of BEGIN IMMEDIATE), so of two
    requests racing to close, exactly one changes it and emits the event; the other (and any
    request for the state it already has) is refused with Conflict, nothing written."""
    if status not in STATUSES:
        raise Invalid("invalid_field", f"The status must be one of {', '.join(STATUSES)} (got '{status}').", "status")
    with writing():
        conversation = db.session.get(Conversation, conversation_id, with_for_update=True, populate_existing=True)
        if conversation is None:
            return  # erased meanwhile: the caller found it a moment ago, nothing left to change
        if conversation.status == status:
            raise Conflict("conflict", f"The conversation is already {status}.")
        conversation.status = status
        events.emit_conversation("conversation.closed" if status == "closed" else "conversation.reopened", conversation)
