"""Events for the customer's backend (webhooks) and for staff mail: written to the outbox in the
transaction of the change that causes them, sent later by the worker (services/webhooks/).

`emit` only adds a row to the current session: the caller's `writing()` commits it together with
the change, or rolls both back. So an event exists exactly when its change does; nothing is sent
from inside a request. It is called only inside writes that happen anyway: the returning verified
user whose data did not change writes nothing, and so emits nothing.

The stored payload is the exact body every endpoint receives (Standard Webhooks' shape:
{"type", "timestamp", "data"}); its public id is the `webhook-id` header, the same on every retry.
Types starting with "signet." are internal (staff mails) and never go to a webhook.
"""
from __future__ import annotations

import json
import secrets

from ..extensions import db
from ..models import Conversation, Message, OutboxEvent
from ..models._types import iso_millis, utcnow

PUBLIC_TYPES = ("user.created", "user.updated", "user.verified", "user.deleted", "conversation.created",
                "conversation.closed", "conversation.reopened", "message.created")
TEST_TYPE = "webhook.test"
# Internal: a mail to members who asked for one (services/webhooks/notify.py).
WAITING_TYPE = "signet.conversation_waiting"
ENDPOINT_DISABLED_TYPE = "signet.endpoint_disabled"
# Internal: an organization's other members to be told user.updated (services/webhooks/member_events.py),
# or (an organization deleted) its former members, listed.
ORG_CHANGED_TYPE = "signet.organization_changed"
MEMBERS_CHANGED_TYPE = "signet.members_changed"
MEMBER_NOTES = (ORG_CHANGED_TYPE, MEMBERS_CHANGED_TYPE)  # the worker's member_events.tell, never fanned out


def wanted(tenant, type: str) -> bool:
    """Whether an enabled webhook endpoint of the tenant (a models.Tenant or a snapshot) subscribes
    to `type`, from `tenant.webhook_events` (kept by services/webhooks/endpoints: no query). User
    writes record user.* events only then: an event is recorded for the endpoints that exist at
    the time of the change (docs/ARCHITECTURE.md, "Outbox")."""
    subscribed = tenant.webhook_events or ""
    return subscribed == "*" or type in subscribed.split()


def wanted_any(tenant, types) -> bool:
    return any(wanted(tenant, type) for type in types)


def subscriptions(endpoint_events) -> str:
    """`Tenant.webhook_events` for the `events` fields of the tenant's enabled endpoints ("" = all)."""
    types: set[str] = set()
    for events in endpoint_events:
        types.update((events or "").split() or ["*"])
    return "*" if "*" in types else " ".join(sorted(types))


def emit(tenant_id: int, type: str, data: dict, *, subject: str | None = None, sealed: bool = False) -> OutboxEvent:
    """Add one event to the current transaction (no flush, no commit: the caller's write owns it).
    `subject` ("user:<row id>") lets erasure find the person's earlier events. `sealed`: the
    payload is stored encrypted (keyring.secret_box(), bound to the event id) and the event is
    deleted once delivered: user.deleted, which must name the person erased nowhere in clear."""
    now = utcnow()
    public_id = new_id()
    payload = json.dumps({"type": type, "timestamp": iso(now), "data": data}, separators=(",", ":"),
                         ensure_ascii=False)
    if sealed:
        from .keys.keyring import secret_box

        payload = secret_box().encrypt(payload, f"event:{public_id}")
    event = OutboxEvent(public_id=public_id, tenant_id=tenant_id, type=type, subject=subject, created_at=now,
                        payload=payload)
    db.session.add(event)
    return event


def body(event: OutboxEvent) -> str:
    """The JSON body as sent (a sealed payload opened: JSON never starts with "v1.")."""
    if event.payload.startswith("v1."):
        from .keys.keyring import secret_box

        return secret_box().decrypt(event.payload, f"event:{event.public_id}")
    return event.payload


def new_id() -> str:
    return "evt_" + secrets.token_urlsafe(16)


iso = iso_millis  # the one formatter (models/_types.py); `iso` is what callers here import


def user_subject(row_id: int) -> str:
    return f"user:{row_id}"


def user_data(user) -> dict:
    """The widget API's user object (§3) of a snapshot (snapshots.UserInfo) or a row being written."""
    from .end_users.user_rules import to_public

    if hasattr(user, "memberships"):  # a models.EndUser: its snapshot, as the answer is built
        from .end_users.snapshots import from_row

        user = from_row(user)
    return to_public(user)


def emit_user(tenant_id: int, type: str, user) -> OutboxEvent:
    return emit(tenant_id, type, {"user": user_data(user)}, subject=user_subject(user.id))


def _user_ref(conversation: Conversation) -> dict:
    user = conversation.user
    if user is None or user.anonymous:
        return {"id": None, "anonymous": True}
    return {"id": user.external_id, "email": user.email, "name": user.name, "anonymous": False}


def conversation_data(conversation: Conversation) -> dict:
    return {"id": conversation.public_id, "subject": conversation.subject, "status": conversation.status,
            "createdAt": iso(conversation.created_at), "user": _user_ref(conversation)}


def emit_conversation(type: str, conversation: Conversation) -> OutboxEvent:
    return emit(conversation.tenant_id, type, {"conversation": conversation_data(conversation)},
                subject=user_subject(conversation.user_id))


def emit_message(conversation: Conversation, message: Message) -> OutboxEvent:
    from .messaging.conversations import message_json

    return emit(conversation.tenant_id, "message.created",
                {"conversation": conversation_data(conversation), "message": message_json(message)},
                subject=user_subject(conversation.user_id))


def forget_user(tenant_id: int, row_id: int) -> int:
    """Erasure, in the caller's transaction: delete every event filed under this person (with their
    deliveries and attempts); the number removed. Then call `emit_user_deleted`."""
    from sqlalchemy import delete

    result = db.session.execute(delete(OutboxEvent).where(OutboxEvent.tenant_id == tenant_id,
                                                          OutboxEvent.subject == user_subject(row_id)),
                                execution_options={"synchronize_session": False})
    return result.rowcount or 0


def emit_user_deleted(tenant_id: int, external_id: str) -> OutboxEvent:
    """user.deleted, sealed at rest and deleted once delivered: the erased person's id is never
    stored in clear (erasure leaves no trace), yet the customer's backend learns who went."""
    return emit(tenant_id, "user.deleted", {"user": {"id": external_id}}, sealed=True)
