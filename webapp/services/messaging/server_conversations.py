"""The server API's conversations (issue 13): list (status, user, cursor), one with its messages,
a staff or bot reply under a name, close and reopen. Writes go through the inbox's own functions
(conversations.staff_reply, inbox.set_status), so events and unread markers follow one rule."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from ...extensions import db
from ...identity.errors import FieldRefused
from ...identity.unknown_keys import reject_unknown_keys
from ...models import Conversation, EndUser, Message
from .. import cursors
from . import conversations, inbox
from .conversations import NotReachable, conversations_json, iso, message_json

MAX_STAFF_NAME = 254
MESSAGE_FIELDS = ("body", "staffName")


def _find(tenant_id: int, public_id: str) -> Conversation:
    row = db.session.scalar(select(Conversation).where(Conversation.tenant_id == tenant_id,
                                                       Conversation.public_id == public_id))
    if row is None:
        raise NotReachable(public_id)
    return row


def listing(tenant_id: int, args) -> dict:
    """Newest first, keyset on the row id: `status=open|closed`, `user=<external id>`, `cursor`, `limit`."""
    after, size = cursors.decode(args.get("cursor")), cursors.limit(args.get("limit"))
    stmt = select(Conversation).where(Conversation.tenant_id == tenant_id).options(selectinload(Conversation.user))
    status = args.get("status")
    if status is not None:
        if status not in inbox.STATUSES:
            raise FieldRefused("invalid_field", "status: open or closed", "status")
        stmt = stmt.where(Conversation.status == status)
    if args.get("user") is not None:
        stmt = stmt.where(Conversation.user_id.in_(select(EndUser.id).where(
            EndUser.tenant_id == tenant_id, EndUser.external_id == args["user"])))
    if after is not None:
        stmt = stmt.where(Conversation.id < after)
    page = cursors.page(list(db.session.scalars(stmt.order_by(Conversation.id.desc()).limit(size + 1))), size)
    return {"data": [_extend(item, row) for item, row in zip(conversations_json(page["data"]), page["data"])],
            "next": page["next"]}


def _extend(item: dict, row: Conversation) -> dict:
    """The widget's conversation object plus when it began and whose it is."""
    user = row.user
    item.update(createdAt=iso(row.created_at),
                user=None if user.anonymous else {"id": user.external_id, "email": user.email, "name": user.name},
                anonymous=bool(user.anonymous))
    return item


def get(tenant_id: int, public_id: str) -> dict:
    row = _find(tenant_id, public_id)
    item = _extend(conversations_json([row])[0], row)
    item["messages"] = [message_json(m) for m in db.session.scalars(
        select(Message).where(Message.conversation_id == row.id).order_by(Message.id))]
    return item


def reply(tenant_id: int, public_id: str, body: object, key_public_id: str) -> dict:
    """`{"body", "staffName"?}`: a staff message under that name (a person's or a bot's; the
    team's generic name when left out). The sender recorded is the API key."""
    if not isinstance(body, dict):
        raise FieldRefused("invalid_json", "The body must be a JSON object.")
    reject_unknown_keys(body, MESSAGE_FIELDS, "")
    name = body.get("staffName")
    if name is not None and (not isinstance(name, str) or not name.strip() or len(name) > MAX_STAFF_NAME
                             or "\x00" in name):
        raise FieldRefused("invalid_field", f"staffName: a string of 1 to {MAX_STAFF_NAME} characters", "staffName")
    # staff_reply checks the body, then finds the conversation under its lock (404 when not this tenant's).
    return conversations.staff_reply(tenant_id, None, public_id, body.get("body"), staff_name=name and name.strip(),
                                     sender=("staff", f"api key {key_public_id}"))


def set_status(tenant_id: int, public_id: str, status: str) -> dict:
    """Close or reopen; asking for the state it already has is 409 conflict (nothing changes),
    decided under the row's lock by inbox.set_status, so two racing closes answer 200 and 409."""
    row = _find(tenant_id, public_id)
    inbox.set_status(row.id, status)
    db.session.expire_all()
    return get(tenant_id, public_id)
