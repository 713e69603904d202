"""Identifying end users (API.md §3–§5): the set-user operation behind the widget API and login links.

Checks run in the contract's order: the token, field rules, verification_required,
seat_limit_reached, and last token_replayed. This module decides; nothing is written until every
check passed, and the writes are user_writes.py's: one transaction per call, a fast path (one
UPDATE at the version read, or one INSERT) or the locked path that holds the user's row
(BEGIN IMMEDIATE on SQLite, FOR UPDATE on PostgreSQL), so concurrent calls for one user apply one
after the other. An UPDATE that finds the row moved on since the read (another call wrote the
user) writes nothing; the call then reads the user again and decides again, every check
included, and only a second miss takes the locked path. A returning user whose data did not
change costs reads only (last_seen is coalesced to once a minute), and an anonymous visitor
costs nothing until they start a conversation.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from ...identity.fields import same_attrs
from ...identity.userdata import MISSING, UserData, classify_body, parse_claims, parse_ctx, parse_unsigned
from ...identity.verifier import VerifiedToken
from ...refusals import Forbidden
from ..keys import tokens, usage
from . import legacy_hash, organizations, sessions, snapshots, unsigned, user_writes
from ..workspace import seats
from ..keys.rejections import records_refusals
from .snapshots import TenantSettings, UserInfo
from .user_rules import (FIELDS, Proof, check_may_change, new_email_verified, only_identifies, public_json, signs,
                         to_public)

__all__ = ["Identified", "Proof", "identify_with", "public_json", "set_user", "to_public"]  # user_rules.py's: Proof,
# public_json, to_public

LAST_SEEN_EVERY = timedelta(seconds=60)


@dataclass
class Identified:
    user: UserInfo | None  # None: an anonymous visitor with nothing stored yet
    visitor_id: str
    token: str
    session: sessions.WidgetSession


@usage.counts_identifications
@records_refusals
def set_user(tenant: TenantSettings, body: dict, *, visitor_id: str | None = None, origin: str | None = None,
             now: float | None = None, read_ahead: snapshots.ReadAhead | None = None) -> Identified:
    """The widget's set-user call: anonymous, unsigned data, {jwt} or {externalAuthCode}.
    `read_ahead`: the user the body names, read with the tenant (snapshots.tenant_and_user)."""
    now = time.time() if now is None else now
    form = classify_body(body)
    if form.kind == "external_auth_code":
        from .login_codes import login_with_code  # that module builds on this one

        return login_with_code(tenant, form.payload, visitor_id=visitor_id, origin=origin, now=now,
                               stray=form.raise_for_stray)
    if form.kind == "jwt":
        verified = tokens.verify(tenant, form.payload, now=now, origin=origin)
        form.raise_for_stray()
        data, ctx = _claims_data(verified)
        proof = Proof(verified.via, verified.alg, verified.kid)  # "token", or "provider" (services/idp)
        return identify_with(tenant, data, proof, verified, visitor_id, ctx, "widget", origin, now, read_ahead)
    if legacy_hash.applies(tenant, body):  # accepted in `required` mode too, while the legacy mode is on
        data, kid, covers = legacy_hash.parse(tenant, body, origin, now)
        proof = Proof(legacy_hash.VIA, "HS256", kid, covers)
        return identify_with(tenant, data, proof, None, visitor_id, {}, "widget", origin, now, read_ahead)
    data = parse_unsigned(body)
    if data.id is None:
        if not tenant.anonymous_visitors:
            raise Forbidden("anonymous_not_allowed", "This workspace does not allow anonymous visitors: identify the user.")
        return _anonymous(tenant, visitor_id, now)
    if tenant.verification_mode == "required":
        unsigned.refuse(tenant, data.id, origin, "This workspace requires signed user data: send {jwt}.")
    return identify_with(tenant, data, None, None, visitor_id, {}, "widget", origin, now, read_ahead)


def _claims_data(verified: VerifiedToken) -> tuple[UserData, dict]:
    """The user data and ctx of a verified token's claims, parsed once per token kept by this
    process (VerifiedToken.memo; the parse is a function of the claims alone, and is not kept
    when it refuses them)."""
    memo = verified.memo
    parsed = memo.get("user_data") if memo is not None else None
    if parsed is None:
        parsed = (parse_claims(verified.claims), parse_ctx(verified.claims))
        if memo is not None:
            memo["user_data"] = parsed
    return parsed


def _anonymous(tenant: TenantSettings, visitor_id: str | None, now: float) -> Identified:
    visitor = sessions.check_visitor_id(visitor_id) or sessions.new_visitor_id()
    token, session = sessions.issue(tenant, visitor_id=visitor, now=now)
    return Identified(user=None, visitor_id=visitor, token=token, session=session)


def identify_with(tenant: TenantSettings, data: UserData, proof: Proof | None, verified: VerifiedToken | None,
                  visitor_id: str | None, ctx: dict, created_via: str, origin: str | None, now: float,
                  read_ahead: snapshots.ReadAhead | None = None) -> Identified:
    visitor = sessions.check_visitor_id(visitor_id) or sessions.new_visitor_id()
    lookup = (tenant.id, data.id, visitor if visitor_id else None)
    user = read_ahead.user_for(*lookup) if read_ahead is not None else snapshots.user(*lookup)
    if only_identifies(user, proof):  # a legacy hash never changes a user signed data verified
        token, session = sessions.issue(tenant, user=user, how=proof.via, kid=proof.kid, now=now)
        return Identified(user=user, visitor_id=visitor, token=token, session=session)
    args = (tenant, data, proof, verified, visitor if visitor_id else None, created_via, origin, now)
    written = _decide_and_write(user, *args)
    if written is _MOVED_ON:  # another call wrote the user since the read: read again, decide again
        user = snapshots.user(*lookup)
        written = user if only_identifies(user, proof) else _decide_and_write(user, *args, last_try=True)
    how = proof.via if proof is not None else sessions.UNSIGNED  # the session ends with what vouched for it
    token, session = sessions.issue(tenant, user=written, how=how, kid=proof and proof.kid, ctx=ctx, now=now)
    return Identified(user=written, visitor_id=visitor, token=token, session=session)


_MOVED_ON = object()  # _decide_and_write: the row read is no longer the user's, nothing was written


def _decide_and_write(user: UserInfo | None, tenant: TenantSettings, data: UserData, proof: Proof | None,
                      verified: VerifiedToken | None, known_visitor: str | None, created_via: str, origin: str | None,
                      now: float, last_try: bool = False) -> UserInfo | object:
    """Every check on `user` as read, then the write it calls for: the user as written (or as read,
    when nothing changes), or _MOVED_ON when the in-place update found the row moved on (and this
    is not the `last_try`: then the locked path decides from what it holds)."""
    first_proof = _check_before_write(tenant, user, data, proof, origin)
    merge = user.visitor_row if user is not None else None
    now_dt = datetime.fromtimestamp(now, timezone.utc)
    orgs_change, rest_changes = _what_changes(user, data, proof) if user is not None else (False, False)
    orgs = data.organizations if orgs_change else MISSING  # MISSING: they stay as they are
    locked = (tenant, data, proof, verified, known_visitor, created_via, origin, now)
    if user is None and seats.limit(tenant, verified=proof is not None) is None:
        return user_writes.insert_new(*locked) or user_writes.write(*locked)
    if user is None or merge is not None or (verified and verified.jti) or (first_proof and tenant.seat_limit is not None):
        return user_writes.write(*locked, new=user is None)
    if orgs_change or rest_changes or now_dt - user.last_seen_at > LAST_SEEN_EVERY:
        written = user_writes.update_in_place(tenant, user, data, proof, origin, now_dt, orgs)
        if written is None:
            return user_writes.write(*locked) if last_try else _MOVED_ON
        return written
    if tenant.verification_mode == "report" and proof is None:
        unsigned.log_would_refuse(tenant, data.id, origin)
    return user


def _check_before_write(tenant: TenantSettings, user: UserInfo | None, data: UserData, proof: Proof | None,
                        origin: str | None) -> bool:
    """The read-only checks, in the contract's order (verification_required, then seats); whether
    this is the user's first verification (it takes a seat: `apply` checks again under lock)."""
    check_may_change(tenant, user, data.id, proof, origin)
    if user is None:
        if not signs(proof):
            unsigned.check_orgs(tenant, data, (), origin)
        seats.check(tenant, verified=proof is not None)
        return False
    first_proof = proof is not None and not user.verified
    if first_proof:
        seats.check(tenant, verified=True)
    return first_proof


def _what_changes(user: UserInfo, data: UserData, proof: Proof | None) -> tuple[bool, bool]:
    """Whether `data` with `proof` changes the user's organizations, and whether it changes the
    rest (fields, attrs, email proof, verification). A pure function of the three, so the answer
    is kept with the snapshot (UserInfo.memo) for the very `data` object it was asked for: a
    returning user's token keeps its parsed data (VerifiedToken.memo), and their next call skips
    the comparison."""
    asked = user.memo.get("what_changes")
    if asked is not None and asked[0] is data and asked[1] == proof:
        return asked[2]
    orgs_change = data.organizations is not MISSING and organizations.would_change(
        user.organizations, data.organizations, signed=signs(proof))
    answer = orgs_change, _would_change(user, data, proof)
    user.memo["what_changes"] = (data, proof, answer)  # holds `data`: its id is never another's
    return answer


def _would_change(user: UserInfo, data: UserData, proof: Proof | None) -> bool:
    """Whether the call changes the user's own fields, attrs, email proof or verification."""
    for attr, field in FIELDS:
        value = getattr(data, field)
        if value is not MISSING and getattr(user, attr) != value:
            return True
    if data.attrs is not MISSING and not same_attrs(user.attrs or {}, data.attrs or {}):
        return True
    if new_email_verified(user.email, user.email_verified, data, proof) is not None:
        return True
    if proof is not None and (not user.verified or (user.verified_via, user.verified_alg, user.verified_kid)
                              != (proof.via, proof.alg, proof.kid)):
        return True
    return False
