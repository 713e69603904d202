"""A person's data on request (GDPR art. 15 and 17): the export, and the erasure.

Erasure removes, in one transaction, everything Signet holds about one user of a tenant:
- the user row, their organization memberships (the organizations stay), their conversations
  and messages;
- their sessions, at once: a session names its user's row and every bearer request reads it
  (sessions.check), so the row gone ends every session in every process;
- the rows elsewhere that carry the person: email sign-in links sent to their email, rejection
  log rows naming their id or email (the log keeps the user id in its message: "Unsigned data
  for user '<id>'…"), idempotency keys whose stored answer holds their conversations or
  messages (their own, and those from before they identified, under the visitor they were),
  outbox events about them (webhooks), the identity-health meter's sample of their unsigned id
  (services/keys/usage.forget), and the audit log's mentions (the entry stays, without the person: target and before/after
  are cleared);
- on SQLite, the bytes: every connection runs with `secure_delete` (infra/database.py), so
  deleted rows are overwritten with zeros, and the WAL is checkpointed and truncated after the
  commit, so a copy of the database files taken afterwards holds none of the person.
What stays holds no personal data: a token's jti (kept until its exp to refuse a replay), and a
revoked session's random id. See docs/SECURITY.md, "Erasure".
"""
from __future__ import annotations

import json
import time

from sqlalchemy import Text, cast, delete, func, null, or_, select, update

from ...extensions import db
from ...infra.database import is_sqlite, writing
from ...models import (AuditEntry, Conversation, EmailSignIn, EndUser, IdempotencyKey, Message, OrgMembership,
                       OutboxEvent, Rejection)
from .. import events
from ..keys import usage
from ..messaging.conversations import conversation_json, iso, message_json
from . import directory, user_writes
from .activity import how_verified


def export(tenant_id: int, external_id: str) -> dict:
    """Everything held about the user, as one JSON document (right of access)."""
    user = directory.get(tenant_id, external_id)
    conversations = list(db.session.scalars(select(Conversation).where(Conversation.user_id == user.id)
                                            .order_by(Conversation.id)))
    messages: dict[int, list[dict]] = {c.id: [] for c in conversations}
    if conversations:
        for m in db.session.scalars(select(Message).where(Message.conversation_id.in_(messages)).order_by(Message.id)):
            messages[m.conversation_id].append(message_json(m))
    sign_ins = [] if not user.email else list(db.session.scalars(
        select(EmailSignIn).where(EmailSignIn.tenant_id == tenant_id, func.lower(EmailSignIn.email) == user.email.lower())
        .order_by(EmailSignIn.id)))
    state, how = how_verified(user)
    return {
        "user": directory.to_json(user),
        "verification": {"state": state, "how": how, "emailProven": bool(user.email_verified),
                         "createdVia": user.created_via},
        "organizations": [{"id": m.organization.external_id, "name": m.organization.name,
                           "attrs": m.organization.attrs or {}} for m in user.memberships],
        "conversations": [{**conversation_json(c, None), "createdAt": iso(c.created_at), "messages": messages[c.id]}
                          for c in conversations],
        "sessions": {"firstSeenAt": iso(user.first_seen_at), "lastSeenAt": iso(user.last_seen_at),
                     "note": "Sessions are signed tokens that Signet does not store; these are the times it saw the user."},
        # Not the address a sign-in was asked from: anyone may ask for a link to this mailbox, so
        # that address may be someone else's.
        "emailSignIns": [{"email": s.email, "requestedAt": iso(s.created_at), "usedAt": s.used_at and iso(s.used_at)}
                         for s in sign_ins],
    }


def erase(tenant_id: int, external_id: str) -> dict:
    """Remove the user and everything naming them (see the module doc); the counts removed."""
    with writing():
        user = user_writes.find_user(tenant_id, directory.path_id(external_id), lock=True)
        if user is None:
            raise directory.not_found(external_id)
        counts = _erase_rows(tenant_id, user)
        # Events (webhooks): user.deleted is emitted here, in this same transaction, after the
        # person's earlier events were forgotten (_erase_rows: events.forget_user and _erase_events).
        events.emit_user_deleted(tenant_id, user.external_id)
    if is_sqlite():
        checkpoint()
    return {"deleted": counts}


def _erase_rows(tenant_id: int, user: EndUser) -> dict:
    conversation_ids = list(db.session.scalars(select(Conversation.id).where(Conversation.user_id == user.id)))
    conversation_public_ids = list(db.session.scalars(select(Conversation.public_id)
                                                      .where(Conversation.id.in_(conversation_ids))))
    public_ids = set(conversation_public_ids)
    public_ids |= set(db.session.scalars(select(Message.public_id).where(Message.conversation_id.in_(conversation_ids))))
    counts = {
        "idempotencyKeys": _erase_idempotency(tenant_id, user.id, public_ids),
        "messages": _count(delete(Message).where(Message.conversation_id.in_(conversation_ids))),
        "conversations": _count(delete(Conversation).where(Conversation.id.in_(conversation_ids))),
        "memberships": _count(delete(OrgMembership).where(OrgMembership.user_id == user.id)),
        "emailSignIns": 0 if not user.email else _count(delete(EmailSignIn).where(
            EmailSignIn.tenant_id == tenant_id, func.lower(EmailSignIn.email) == user.email.lower())),
        "rejections": _count(delete(Rejection).where(Rejection.tenant_id == tenant_id,
                                                     _mentions(Rejection.message, user))),
        "auditEntries": _redact_audit(tenant_id, user),
        "events": _erase_events(tenant_id, user.id, conversation_public_ids),
        "unsignedIdSamples": usage.forget(tenant_id, user.external_id),
    }
    db.session.expunge(user)
    counts["users"] = _count(delete(EndUser).where(EndUser.id == user.id))
    return counts


def _erase_events(tenant_id: int, user_id: int, conversation_ids: list[str]) -> int:
    """Outbox events about the person: those filed under them (events.forget_user), and those of
    their conversations filed under the visitor they were before identifying (the payload names
    the conversation)."""
    removed = events.forget_user(tenant_id, user_id)
    for start in range(0, len(conversation_ids), 50):
        chunk = conversation_ids[start:start + 50]
        removed += _count(delete(OutboxEvent).where(OutboxEvent.tenant_id == tenant_id, or_(
            *(OutboxEvent.payload.contains(f'"{public_id}"', autoescape=True) for public_id in chunk))))
    return removed


def _count(statement) -> int:
    return db.session.execute(statement, execution_options={"synchronize_session": False}).rowcount or 0


def _needles(user: EndUser) -> list[str]:
    """What names the person in free text: their id as Signet writes it into the rejection log
    (quoted, at most 100 characters) and their email."""
    needles = [f"'{user.external_id[:100]}'"]
    if user.email:
        needles.append(user.email.lower())
    return needles


def _mentions(column, user: EndUser):
    return or_(*(func.lower(column).contains(n.lower(), autoescape=True) for n in _needles(user)))


def _erase_idempotency(tenant_id: int, user_id: int, public_ids: set[str]) -> int:
    """The user's own keys, and any other key of the tenant whose stored answer is one of the
    person's conversations or messages (made while they were an anonymous visitor)."""
    removed = _count(delete(IdempotencyKey).where(IdempotencyKey.tenant_id == tenant_id,
                                                  IdempotencyKey.subject == f"user:{user_id}"))
    if not public_ids:
        return removed
    theirs = [row.id for row in db.session.execute(select(IdempotencyKey.id, IdempotencyKey.response).where(
        IdempotencyKey.tenant_id == tenant_id, IdempotencyKey.subject.like("visitor:%")))
        if _answer_id(row.response) in public_ids]
    if theirs:
        removed += _count(delete(IdempotencyKey).where(IdempotencyKey.id.in_(theirs)))
    return removed


def _answer_id(response: str) -> str | None:
    try:
        body = json.loads(response)
    except ValueError:
        return None
    return body.get("id") if isinstance(body, dict) else None


def _redact_audit(tenant_id: int, user: EndUser) -> int:
    """Audit entries that name the person (their id or email as the target, or as a JSON string in
    before/after) keep what was done, when and by whom, not to whom."""
    names = [user.external_id] + ([user.email] if user.email else [])
    quoted = [json.dumps(n) for n in names] + [json.dumps(n, ensure_ascii=False) for n in names]
    mentions = [AuditEntry.target.in_(names)]
    for column in (AuditEntry.before, AuditEntry.after):
        mentions += [cast(column, Text).contains(q, autoescape=True) for q in set(quoted)]
    return _count(update(AuditEntry).where(AuditEntry.tenant_id == tenant_id, or_(*mentions))
                  .values(target="(erased user)", before=null(), after=null()))


def checkpoint(attempts: int = 20) -> bool:
    """Copy the WAL into the database file and truncate it to nothing (SQLite), so the deleted
    rows' old page images are gone from disk too; retried while a reader holds an old snapshot.
    True when the WAL is empty."""
    raw = db.engine.raw_connection()
    try:
        for _ in range(attempts):
            busy, _log, _done = raw.dbapi_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
            if not busy:
                return True
            time.sleep(0.05)
        return False
    finally:
        raw.close()
