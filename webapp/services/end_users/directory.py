"""The server API's users (issue 13): found by external id, listed and searched with a cursor,
and upserted by the tenant's backend.

Data from the server API counts as verified (API.md §9: an API key vouches for the user, like a
token): the user is marked verified "server API", their email proven, their organizations and
memberships signed. The field rules are set-user's own (identity/userdata.py), applied by the
same locked write as a token's data (user_writes.apply), so events, seats and organizations follow
one rule whatever vouched for the data.
"""
from __future__ import annotations

import time
from dataclasses import replace

from sqlalchemy import func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from ...extensions import db
from ...identity.errors import FieldRefused
from ...identity.fields import USER_FIELDS, check_id, describe
from ...identity.unknown_keys import reject_unknown_keys
from ...identity.userdata import UserData, parse_unsigned
from ...infra.database import writing
from ...models import EndUser, Organization, OrgMembership, Tenant
from ...models._types import iso_seconds
from ...refusals import NotFound
from .. import cursors
from . import snapshots, user_writes
from .activity import how_verified
from .user_rules import Proof, to_public

VIA = "server_api"  # EndUser.verified_via / created_via for the server API
SERVER_PROOF = Proof(VIA, None, None)  # no key material: the API key is the caller, not a signing key


def not_found(external_id: str) -> NotFound:
    return NotFound("not_found", f"This workspace has no user with id '{external_id[:100]}'.")


def path_id(raw: str) -> str:
    """An id as it came in the URL, checked by set-user's id rule (1-255 characters, no U+0000)."""
    return check_id(raw, "id")


def get(tenant_id: int, external_id: str) -> EndUser:
    user = user_writes.find_user(tenant_id, path_id(external_id))
    if user is None:
        raise not_found(external_id)
    return user


def search(tenant_id: int, args) -> dict:
    """`?q=` (id prefix, or email or name prefix, any case), `email=` (exact, any case),
    `verified=true|false`, `organization=<id>`, `cursor=`, `limit=`: identified users, oldest first."""
    after, size = cursors.decode(args.get("cursor")), cursors.limit(args.get("limit"))
    stmt = (select(EndUser).where(EndUser.tenant_id == tenant_id, EndUser.anonymous.is_(False))
            .options(selectinload(EndUser.memberships)))
    q = args.get("q")
    if q:
        stmt = stmt.where(or_(EndUser.external_id.startswith(q, autoescape=True),
                              func.lower(EndUser.email).startswith(q.lower(), autoescape=True),
                              func.lower(EndUser.name).startswith(q.lower(), autoescape=True)))
    if args.get("email"):
        stmt = stmt.where(func.lower(EndUser.email) == args["email"].lower())
    verified = args.get("verified")
    if verified is not None:
        if verified not in ("true", "false"):
            raise FieldRefused("invalid_field", "verified: true or false", "verified")
        stmt = stmt.where(EndUser.verified.is_(verified == "true"))
    if args.get("organization"):
        members = (select(OrgMembership.user_id).join(Organization, Organization.id == OrgMembership.organization_id)
                   .where(Organization.tenant_id == tenant_id, Organization.external_id == args["organization"]))
        stmt = stmt.where(EndUser.id.in_(members))
    if after is not None:
        stmt = stmt.where(EndUser.id > after)
    rows = list(db.session.scalars(stmt.order_by(EndUser.id).limit(size + 1)))
    found = cursors.page(rows, size)
    return {"data": [to_json(u) for u in found["data"]], "next": found["next"]}


def parse_body(external_id: str, body: object) -> UserData:
    """A PUT body: set-user's unsigned fields (unknown keys are unknown_field); the id is the URL's
    (an `id` in the body must be the same). Reserved ids (email:…) may be named: the server is trusted."""
    user_id = path_id(external_id)
    if not isinstance(body, dict):
        raise FieldRefused("invalid_json", f"The body must be a JSON object; got {describe(body)}")
    reject_unknown_keys(body, USER_FIELDS, "")
    if "id" in body and check_id(body["id"], "id") != user_id:
        raise FieldRefused("invalid_field", "id: must be the id in the URL (or left out)", "id")
    return replace(parse_unsigned({**body, "id": "server"}), id=user_id)


def upsert(tenant: Tenant, external_id: str, body: object, now: float | None = None) -> tuple[dict, bool]:
    """Create or update the user from the body, verified by the server; (its JSON, created). One
    locked read of the user and one UPDATE (user_writes.apply); a user's last_seen stays theirs.
    (Events: user_writes.apply emits user.created / user.updated / user.verified in this transaction.)"""
    data = parse_body(external_id, body)
    now = time.time() if now is None else now
    for attempt in range(user_writes.WRITE_ATTEMPTS):
        try:
            with writing():
                # set-user's one write rule; the server writing about a user is not them being seen
                user, created = user_writes.apply(tenant, data, SERVER_PROOF, VIA, None, now, seen=False)
                answer = to_json(user)
            return answer, created
        except IntegrityError:  # the same new user created at once by another request: find it
            if attempt == user_writes.WRITE_ATTEMPTS - 1:
                raise
    raise AssertionError("unreachable")


def to_json(user: EndUser) -> dict:
    """The widget API's user object (§3) plus timestamps and how the user was verified."""
    out = to_public(snapshots.from_row(user))
    out.update(createdAt=iso_seconds(user.first_seen_at), lastSeenAt=iso_seconds(user.last_seen_at),
               verifiedAt=iso_seconds(user.verified_at), howVerified=how_verified(user)[1])
    return out



