"""The audit log: who changed what, when, from where (issue 17, item 4).

`record(...)` adds one AuditEntry to the CURRENT transaction and never commits: callers call it
inside the same `writing()` block (or before the same commit) as the change it describes, so a
change without its entry, or an entry without its change, can never be committed.

The actor comes from context unless given: `acting_as(actor)` (e.g. "api key <name>") wins;
else the signed-in member in a dashboard request; else "command line" under the Flask CLI (the
operator, trusted); else "system". The address is the request's client address when there is a
request. Never put a secret into `before`/`after`: they are shown to owners and admins.
"""
from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator

import click
from flask import has_request_context, request
from flask_login import current_user

from ..extensions import db
from ..models import AuditEntry

COMMAND_LINE = "command line"
SYSTEM = "system"

_acting: ContextVar[tuple[str, int | None] | None] = ContextVar("signet_audit_actor", default=None)


@contextmanager
def acting_as(actor: str, member_id: int | None = None) -> Iterator[None]:
    """Entries recorded inside the block name `actor` (e.g. "api key deploy-bot")."""
    token = _acting.set((actor[:254], member_id))
    try:
        yield
    finally:
        _acting.reset(token)


def current_actor() -> tuple[str, int | None]:
    """(actor text, member id or None) from context: see the module docstring."""
    acting = _acting.get()
    if acting is not None:
        return acting
    if has_request_context():
        user = current_user
        if user is not None and getattr(user, "is_authenticated", False):
            return user.email, user.id
    if click.get_current_context(silent=True) is not None:
        return COMMAND_LINE, None
    return SYSTEM, None


def current_address() -> str:
    if has_request_context():
        return (request.remote_addr or "")[:64]
    return ""


def record(tenant_id: int, action: str, target: str = "", *, before: dict | None = None,
           after: dict | None = None, actor: str | None = None, actor_member_id: int | None = None,
           address: str | None = None) -> AuditEntry:
    """Add one entry to db.session in the current transaction (no commit of its own)."""
    if actor is None:
        actor, context_member = current_actor()
        actor_member_id = actor_member_id if actor_member_id is not None else context_member
    entry = AuditEntry(tenant_id=tenant_id, actor=actor[:254], actor_member_id=actor_member_id,
                       action=action, target=str(target or "")[:255], before=before, after=after,
                       address=current_address() if address is None else address[:64])
    db.session.add(entry)
    return entry


def changed(before: dict, after: dict) -> tuple[dict, dict]:
    """Only the fields whose value differs, as (before, after)."""
    keys = [k for k in after if before.get(k) != after.get(k)]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def record_for_member(member_id: int, action: str, target: str = "", **kwargs) -> None:
    """One entry in each workspace the member belongs to (a login, a session ended, a password
    reset concern the account, and each workspace's owners should see them)."""
    from sqlalchemy import select

    from ..models import Membership

    for tenant_id in list(db.session.scalars(select(Membership.tenant_id).where(Membership.member_id == member_id))):
        record(tenant_id, action, target, **kwargs)
