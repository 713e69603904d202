"""Conversations between end users and staff: what a widget session may reach, and staff replies."""
from __future__ import annotations

import re
import secrets

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError

from ...infra.database import writing
from ...extensions import db
from ...identity.errors import FieldRefused
from ...models import Conversation, EndUser, Member, Message, Organization, OrgMembership
from ...models._types import iso_millis, utcnow
from ...refusals import Conflict, NotFound, Unauthorized
from .. import events
from ..end_users import idempotency
from ..end_users.sessions import WidgetSession
from . import senders

MAX_BODY = 10_000
LIST_LIMIT = 100
_CLIENT_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


class SessionEnded(Unauthorized):
    """The session's user no longer exists (erased while the request ran): as a revoked session."""

    def __init__(self) -> None:
        super().__init__("session_invalid", "The session is missing, unknown, expired or revoked: call set-user again.")


class NotReachable(NotFound):
    """A conversation or message outside the session's reach: `not_found`, one message for both
    (`what`, the id asked for, is kept for logs only: the answer never says which one was wrong)."""

    def __init__(self, what: str | None = None):
        super().__init__("not_found", "No such conversation or message for this session.")
        self.what = what


def _public_id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_urlsafe(12)}"


def check_body(value: object, field: str = "body") -> str:
    if not isinstance(value, str) or not value.strip():
        raise FieldRefused("invalid_field", f"{field}: must be a non-empty string", field)
    if len(value) > MAX_BODY or "\x00" in value:
        raise FieldRefused("invalid_field", f"{field}: at most {MAX_BODY} characters, no U+0000", field)
    return value.strip()


def check_connection_id(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not 1 <= len(value) <= 255 or "\x00" in value:
        raise FieldRefused("invalid_field", "connectionId: must be a string of 1 to 255 characters", "connectionId")
    return value


def check_client_message_id(value: object) -> str | None:
    """The widget's own id for a message: 1 to 64 of A-Z a-z 0-9 _ -."""
    if value is None:
        return None
    if not isinstance(value, str) or not _CLIENT_ID.fullmatch(value):
        raise FieldRefused("invalid_field", "clientMessageId: 1 to 64 characters of A-Z, a-z, 0-9, _ and -",
                         "clientMessageId")
    return value


def subject_user(session: WidgetSession, create: bool = False) -> EndUser | None:
    """The end user a session speaks for; a visitor's row is made on their first conversation."""
    if session.user_id is not None:
        return db.session.get(EndUser, session.user_id)
    row = db.session.scalar(select(EndUser).where(
        EndUser.tenant_id == session.tenant_id, EndUser.visitor_id == session.visitor_id))
    if row is None and create:
        row = EndUser(tenant_id=session.tenant_id, anonymous=True, visitor_id=session.visitor_id, attrs={},
                      created_via="widget")
        db.session.add(row)
        db.session.flush()
    return row


def list_for(session: WidgetSession) -> list[dict]:
    user = subject_user(session)
    if user is None:
        return []
    rows = db.session.scalars(select(Conversation).where(
        Conversation.tenant_id == session.tenant_id, Conversation.user_id == user.id)
        .order_by(Conversation.updated_at.desc(), Conversation.id.desc()).limit(LIST_LIMIT)).all()
    return conversations_json(rows)


def conversations_json(rows: list[Conversation], with_user: bool = False) -> list[dict]:
    last = _last_messages([c.id for c in rows])
    out = []
    for c in rows:
        item = conversation_json(c, last.get(c.id))
        if with_user:
            item["user"] = {"id": c.user.external_id, "name": c.user.name, "email": c.user.email}
        out.append(item)
    return out


def conversation_json(c: Conversation, last: Message | None) -> dict:
    return {"id": c.public_id, "subject": c.subject, "status": c.status, "updatedAt": iso(c.updated_at),
            "lastMessage": message_json(last) if last is not None else None}


def _last_messages(conversation_ids: list[int]) -> dict[int, Message]:
    if not conversation_ids:
        return {}
    newest = (select(func.max(Message.id)).where(Message.conversation_id.in_(conversation_ids))
              .group_by(Message.conversation_id))
    return {m.conversation_id: m for m in db.session.scalars(select(Message).where(Message.id.in_(newest)))}


def start(session: WidgetSession, body: object, connection_id: object = None,
          guard: idempotency.Guard | None = None) -> dict:
    """A new conversation with its first message from the user. The answer is built inside the
    write's transaction from what it wrote (and stored under `guard`'s key with it)."""
    text, connection = check_body(body), check_connection_id(connection_id)
    for attempt in (1, 2):
        try:
            with writing():
                user = subject_user(session, create=True)
                if user is None:  # erased between the session check and this write (services/end_users/erasure.py)
                    raise SessionEnded()
                now = utcnow()
                conversation = Conversation(public_id=_public_id("conv"), tenant_id=session.tenant_id,
                                            user_id=user.id, subject=text.splitlines()[0][:80], status="open",
                                            connection_id=connection, created_at=now, updated_at=now,
                                            unread_by_staff=True)
                db.session.add(conversation)
                db.session.flush()
                via, key = senders.of_session(session)
                first = Message(public_id=_public_id("msg"), tenant_id=session.tenant_id, author="user",
                                conversation_id=conversation.id, body=text, created_at=now, sender_via=via,
                                sender_key=key)
                db.session.add(first)
                events.emit_conversation("conversation.created", conversation)
                events.emit_message(conversation, first)
                created = conversation_json(conversation, first)
                idempotency.record(guard, created)
            return created
        except IntegrityError:
            # A visitor's first conversations started at once (PostgreSQL): the other request made
            # their row; the second attempt finds it.
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def reachable(session: WidgetSession, public_id: str) -> Conversation:
    user = subject_user(session)
    conversation = db.session.scalar(select(Conversation).where(
        Conversation.tenant_id == session.tenant_id, Conversation.public_id == public_id))
    if conversation is None or user is None or conversation.user_id != user.id:
        raise NotReachable(public_id)
    return conversation


def messages(conversation: Conversation, after: str | None = None, limit: int = 500,
             with_sender: bool = False) -> list[dict]:
    """The conversation's messages after `after`; `with_sender` adds how each sender was
    identified (the inbox's, never the widget's answer)."""
    stmt = select(Message).where(Message.conversation_id == conversation.id)
    if after:
        after_id = db.session.scalar(select(Message.id).where(
            Message.conversation_id == conversation.id, Message.public_id == after))
        if after_id is None:
            raise NotReachable(after)
        stmt = stmt.where(Message.id > after_id)
    rows = db.session.scalars(stmt.order_by(Message.id).limit(limit))
    if not with_sender:
        return [message_json(m) for m in rows]
    return [{**message_json(m), "sender": senders.label(m.sender_via, m.sender_key),
             "senderVerified": senders.verified(m.sender_via)} for m in rows]


def post_user_message(conversation: Conversation, body: object, client_message_id: object = None,
                      guard: idempotency.Guard | None = None, session: WidgetSession | None = None) -> dict:
    """A user's message. With a `clientMessageId` already used in this conversation, the stored
    message (same text) or 409 idempotency_key_reused (other text), and nothing written. The
    answer is built inside the transaction from what it wrote."""
    text, client_id = check_body(body), check_client_message_id(client_message_id)
    with writing():
        conversation = db.session.get(Conversation, conversation.id, with_for_update=True)  # one writer at a time
        earlier = client_id and db.session.scalar(select(Message).where(
            Message.conversation_id == conversation.id, Message.client_message_id == client_id))
        if earlier:
            if earlier.author != "user" or earlier.body != text:
                raise Conflict("idempotency_key_reused", "clientMessageId: this conversation already"
                                           " has another message with this id.", "clientMessageId")
            answer = message_json(earlier)
        else:
            message = _add(conversation, "user", text, client_id=client_id,
                           sender=senders.of_session(session) if session is not None else (None, None))
            conversation.unread_by_staff = True
            if conversation.status != "open":  # a user writing again reopens the conversation
                conversation.status = "open"
                events.emit_conversation("conversation.reopened", conversation)
            events.emit_message(conversation, message)
            answer = message_json(message)
        idempotency.record(guard, answer)
    return answer


def staff_reply(tenant_id: int, member: Member | None, public_id: str, body: object, staff_name: str | None = None,
                sender: tuple[str, str | None] | None = None) -> dict:
    """A reply from the inbox (a member), or from the server API (no member: a staff or bot name,
    and the API key as the sender); it reaches the widget through the messages endpoint."""
    text = check_body(body)
    with writing():
        conversation = db.session.scalar(select(Conversation).where(
            Conversation.tenant_id == tenant_id, Conversation.public_id == public_id).with_for_update())
        if conversation is None:
            raise NotReachable(public_id)
        message = _add(conversation, "staff", text, member, sender=sender, staff_name=staff_name)
        conversation.unread_by_staff = False
        conversation.staff_read_message_id = message.id
        events.emit_message(conversation, message)
        answer = message_json(message)
    return answer


def _add(conversation: Conversation, author: str, text: str, member: Member | None = None,
         client_id: str | None = None, sender: tuple[str | None, str | None] | None = None,
         staff_name: str | None = None) -> Message:
    now = utcnow()
    via, key = sender or senders.of_member(member)
    message = Message(public_id=_public_id("msg"), tenant_id=conversation.tenant_id, author=author,
                      conversation_id=conversation.id, body=text, created_at=now, client_message_id=client_id,
                      staff_member_id=member.id if member else None, staff_name=staff_name or _staff_name(member),
                      sender_via=via, sender_key=key)
    db.session.add(message)
    conversation.updated_at = now
    db.session.flush()
    return message


def _staff_name(member: Member | None) -> str | None:
    return member.email.split("@")[0].replace(".", " ").title() if member else None


def user_dashboard(session: WidgetSession) -> dict:
    """<signet-dashboard>: the user's own conversations; with ctx role admin and an orgId of one of
    their organizations, every conversation of that organization's members. Never anything else.
    Only memberships made by signed data count, the admin's and the members' alike (API.md §9):
    unsigned data can neither put its messages into an admin's view nor make anyone an admin."""
    user = subject_user(session)
    if user is None or user.anonymous:
        return {"scope": "user", "organization": None, "conversations": []}
    org = _admin_org(session, user)
    stmt = select(Conversation).where(Conversation.tenant_id == session.tenant_id)
    if org is None:
        stmt = stmt.where(Conversation.user_id == user.id)
    else:
        members = select(OrgMembership.user_id).where(OrgMembership.organization_id == org.id,
                                                      OrgMembership.signed.is_(True))
        stmt = stmt.where(or_(Conversation.user_id == user.id, Conversation.user_id.in_(members)))
    rows = db.session.scalars(stmt.order_by(Conversation.updated_at.desc()).limit(LIST_LIMIT)).all()
    return {
        "scope": "organization" if org else "user",
        "organization": {"id": org.external_id, "name": org.name} if org else None,
        "conversations": conversations_json(rows, with_user=True),
    }


def _admin_org(session: WidgetSession, user: EndUser) -> Organization | None:
    ctx = session.ctx or {}
    if ctx.get("role") != "admin" or not isinstance(ctx.get("orgId"), (str, int)) or isinstance(ctx.get("orgId"), bool):
        return None
    return db.session.scalar(select(Organization).join(OrgMembership).where(
        OrgMembership.user_id == user.id, OrgMembership.signed.is_(True), Organization.tenant_id == session.tenant_id,
        Organization.external_id == str(ctx["orgId"])))


def message_json(m: Message) -> dict:
    out = {"id": m.public_id, "author": m.author, "body": m.body, "createdAt": iso(m.created_at)}
    if m.author == "staff":
        out["staffName"] = m.staff_label
    if m.client_message_id:
        out["clientMessageId"] = m.client_message_id
    return out


iso = iso_millis  # the one formatter (models/_types.py); `iso` is what callers here import
