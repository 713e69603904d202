"""Staff notifications by mail, through the outbox like webhooks.

A member chooses per workspace (Your account → Notifications): every new conversation, only
conversations waiting for a reply longer than N minutes, or never (the default). A
conversation.created event is fanned out into one mail delivery per member who chose "every";
the worker's periodic `check_waiting` emits an internal event per member and wait (a
WaitNotice row makes it once per wait) that becomes their mail. Mails link to the conversation
in the inbox and never carry a token.
"""
from __future__ import annotations

import json
from datetime import timedelta
from urllib.parse import quote

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ...infra.database import writing
from ...models import (Conversation, Member, Membership, Message, NotificationSetting, OutboxEvent, Tenant,
                       WaitNotice)
from ...models._types import utcnow
from ...refusals import Invalid
from .. import events

MAX_WAIT_MINUTES = 7 * 24 * 60
LOOK_BACK = timedelta(days=7)  # waits older than this are not mailed about any more


def get_setting(membership: Membership) -> tuple[str, int]:
    row = db.session.scalar(select(NotificationSetting).where(NotificationSetting.membership_id == membership.id))
    return (row.mode, row.wait_minutes) if row else ("never", 15)


def save_setting(membership: Membership, mode: str, wait_minutes: object = 15) -> None:
    if mode not in ("every", "waiting", "never"):
        raise Invalid("invalid_field", "Choose every, waiting or never.", "mode")
    try:
        minutes = int(wait_minutes)
    except (TypeError, ValueError):
        minutes = -1
    if not 1 <= minutes <= MAX_WAIT_MINUTES:
        raise Invalid("invalid_field", f"Minutes: a whole number from 1 to {MAX_WAIT_MINUTES}.", "wait_minutes")
    with writing():
        row = db.session.scalar(select(NotificationSetting).where(NotificationSetting.membership_id == membership.id))
        if row is None:
            row = NotificationSetting(membership_id=membership.id)
            db.session.add(row)
        row.mode, row.wait_minutes = mode, minutes


def recipients(event: OutboxEvent) -> list[int]:
    """Member ids to mail about this event (dispatch.py makes a mail delivery for each)."""
    if event.type == "conversation.created":
        return list(db.session.scalars(select(Membership.member_id).join(
            NotificationSetting, NotificationSetting.membership_id == Membership.id).where(
            Membership.tenant_id == event.tenant_id, NotificationSetting.mode == "every")))
    if event.type == events.WAITING_TYPE:
        return [json.loads(event.payload)["data"]["memberId"]]
    if event.type == events.ENDPOINT_DISABLED_TYPE:
        return list(db.session.scalars(select(Membership.member_id).where(
            Membership.tenant_id == event.tenant_id, Membership.role == "owner")))
    return []


def link_base() -> str:
    """SIGNET_PUBLIC_URL; without it (a development machine) the first trusted host, over http."""
    configured = current_app.config.get("SIGNET_PUBLIC_URL")
    if configured:
        return configured
    hosts = current_app.config.get("TRUSTED_HOSTS") or ["localhost"]
    return "http://" + hosts[0].lstrip(".")


def compose(event: OutboxEvent, member: Member) -> tuple[str, str, str] | None:
    """(subject, body, console line) of the mail, or None when it no longer applies (the
    conversation is gone, was answered before a "waiting" mail went out, or the member has left
    the workspace's team since the mail was queued: a mail retried for a day must not follow them)."""
    if db.session.scalar(select(Membership.id).where(Membership.member_id == member.id,
                                                     Membership.tenant_id == event.tenant_id)) is None:
        return None
    data = json.loads(event.payload)["data"]
    tenant = db.session.get(Tenant, event.tenant_id)
    if event.type == events.ENDPOINT_DISABLED_TYPE:
        url = f"{link_base()}/settings/webhooks/{quote(data['endpoint'])}"
        body = (f"Signet stopped sending events of {tenant.name} to {data['url']}: {data['reason']}\n\n"
                f"Fix the endpoint, then enable it again: {url}\n")
        return f"Webhook endpoint disabled in {tenant.name}", body, f"{member.email}: endpoint disabled -> {url}"
    conversation = db.session.scalar(select(Conversation).where(Conversation.public_id == data["conversation"]["id"],
                                                                Conversation.tenant_id == event.tenant_id))
    if conversation is None or (event.type == events.WAITING_TYPE and not _still_waiting(conversation)):
        return None
    who = _who(conversation)
    url = f"{link_base()}/inbox/{quote(conversation.public_id)}"
    if event.type == events.WAITING_TYPE:
        subject = f"Waiting for a reply in {tenant.name}: {conversation.subject}"
        body = f"{who} has been waiting for a reply since {data['waitingSince']} (UTC).\n\nReply: {url}\n"
    else:
        subject = f"New conversation in {tenant.name}: {conversation.subject}"
        body = f"{who} started a conversation: “{conversation.subject}”.\n\nOpen it: {url}\n"
    return subject, body, f"{member.email}: {subject} -> {url}"


def _who(conversation: Conversation) -> str:
    user = conversation.user
    if user is None or user.anonymous:
        return "A visitor"
    return user.name or user.email or f"User {user.external_id}"


def _still_waiting(conversation: Conversation) -> bool:
    last = db.session.scalar(select(Message.author).where(Message.conversation_id == conversation.id)
                             .order_by(Message.id.desc()).limit(1))
    return conversation.status == "open" and last == "user"


def check_waiting() -> int:
    """For each member who chose "waiting": conversations whose first unanswered user message is
    older than their N minutes get one internal event (→ a mail), once per wait. How many."""
    chosen = db.session.execute(select(Membership.id, Membership.member_id, Membership.tenant_id,
                                       NotificationSetting.wait_minutes)
                                .join(NotificationSetting, NotificationSetting.membership_id == Membership.id)
                                .where(NotificationSetting.mode == "waiting")).all()
    db.session.rollback()
    made = 0
    for tenant_id in {row.tenant_id for row in chosen}:
        waits = _waits(tenant_id)
        for row in (r for r in chosen if r.tenant_id == tenant_id):
            for conversation_id, message_id, since in waits:
                if utcnow() - since >= timedelta(minutes=row.wait_minutes):
                    made += _notice(row, conversation_id, message_id, since)
    return made


def _waits(tenant_id: int) -> list[tuple[int, int, object]]:
    """(conversation id, first unanswered user message id, its time) of the tenant's open conversations."""
    last_staff = (select(Message.conversation_id, func.max(Message.id).label("sid"))
                  .where(Message.tenant_id == tenant_id, Message.author == "staff")
                  .group_by(Message.conversation_id).subquery())
    first = (select(func.min(Message.id)).join(Conversation, Conversation.id == Message.conversation_id)
             .outerjoin(last_staff, last_staff.c.conversation_id == Message.conversation_id)
             .where(Conversation.tenant_id == tenant_id, Conversation.status == "open", Message.author == "user",
                    Message.created_at > utcnow() - LOOK_BACK, Message.id > func.coalesce(last_staff.c.sid, 0))
             .group_by(Message.conversation_id))
    rows = db.session.execute(select(Message.conversation_id, Message.id, Message.created_at)
                              .where(Message.id.in_(first))).all()
    db.session.rollback()
    return [tuple(r) for r in rows]


def _notice(row, conversation_id: int, message_id: int, since) -> int:
    exists = db.session.scalar(select(WaitNotice.id).where(
        WaitNotice.membership_id == row.id, WaitNotice.conversation_id == conversation_id,
        WaitNotice.message_id == message_id))
    if exists:
        db.session.rollback()
        return 0
    try:
        with writing():
            db.session.add(WaitNotice(membership_id=row.id, conversation_id=conversation_id, message_id=message_id))
            conversation = db.session.get(Conversation, conversation_id)
            events.emit(row.tenant_id, events.WAITING_TYPE,
                        {"conversation": events.conversation_data(conversation), "memberId": row.member_id,
                         "waitingSince": events.iso(since)}, subject=events.user_subject(conversation.user_id))
    except IntegrityError:
        return 0  # another worker queued this one
    return 1
