"""Signing in with a login link's code (API.md §5), from the hosted page or the widget's
externalAuthCode: the workspace's link policy, then either the user data it carries (identified
like a token's, identify.py) or a login-only code that signs in an existing user and changes nothing."""
from __future__ import annotations

import time
from datetime import datetime, timezone

from ...infra.database import writing
from ...extensions import db
from ...identity.errors import TokenRefused
from ...identity.userdata import LoginOnly, UserData, parse_ctx, parse_login_payload
from ...identity.verifier import VerifiedToken
from ...models import EndUser
from ...refusals import Forbidden, Unauthorized
from ..keys import jtis, tokens, usage
from . import sessions, snapshots
from .identify import Identified, identify_with
from .user_rules import Proof
from .user_writes import merge_visitor
from ..keys.rejections import records_refusals, to_record
from .snapshots import TenantSettings


@usage.counts_identifications
@records_refusals
def login_with_code(tenant: TenantSettings, code: object, *, visitor_id: str | None = None, origin: str | None = None,
                    now: float | None = None, stray=None) -> Identified:
    """A login link's externalAuthCode (§5), from the hosted page or the widget."""
    now = time.time() if now is None else now
    if not tenant.login_links_enabled:
        raise Forbidden("login_links_disabled", "Login links are turned off for this workspace.")
    verified = tokens.verify(tenant, code, now=now, origin=origin, source="login_link")
    _check_link_policy(tenant, verified, origin)  # a token rule: before the body's field rules
    if stray is not None:
        stray()
    payload = parse_login_payload(verified.claims)
    proof = Proof("login_link", verified.alg, verified.kid)
    if isinstance(payload, UserData):
        return identify_with(tenant, payload, proof, verified, visitor_id, parse_ctx(verified.claims), "login_link", origin, now)
    return _login_only(tenant, payload, verified, visitor_id, origin, now)


def _check_link_policy(tenant: TenantSettings, verified: VerifiedToken, origin: str | None) -> None:
    claims = verified.claims
    problem = None
    if tenant.login_links_require_jti and ("jti" not in claims or "iat" not in claims):
        problem = "This workspace requires every login link to carry a jti and an iat."
    elif tenant.login_links_max_age and "iat" not in claims:
        problem = "This workspace limits the age of login links: add an iat claim."
    elif tenant.login_links_max_age and verified.exp - claims["iat"] > tenant.login_links_max_age:
        problem = f"This login link lives longer than the workspace's maximum of {tenant.login_links_max_age} s (exp − iat)."
    if problem:
        raise to_record(TokenRefused("token_malformed", problem), tenant, kid=verified.kid, alg=verified.alg,
                        origin=origin, source="login_link")


def _login_only(tenant: TenantSettings, who: LoginOnly, verified: VerifiedToken, visitor_id: str | None,
                origin: str | None, now: float) -> Identified:
    """A login-only code signs in an existing user and changes none of their fields."""
    if who.id is not None:
        found = snapshots.user(tenant.id, who.id)
        user_id = found.id if found is not None and not found.anonymous else None
    else:
        user_id = snapshots.user_id_by_email(tenant.id, who.email)
    if user_id is None:
        raise to_record(Unauthorized("unknown_user", "No user of this workspace matches this login link."), tenant,
                        "A login-only link named no existing user.", kid=verified.kid, alg=verified.alg,
                        origin=origin, source="login_link")
    ctx = parse_ctx(verified.claims)  # every check before the first write
    visitor = sessions.check_visitor_id(visitor_id) or sessions.new_visitor_id()
    with writing():
        user = db.session.get(EndUser, user_id, with_for_update=True)
        user.last_seen_at = datetime.fromtimestamp(now, timezone.utc)
        merge_visitor(tenant.id, visitor, user)
        jtis.record_jti(tenant, verified, now=now, origin=origin, source="login_link")
        db.session.flush()
        user = snapshots.from_row(user)  # the answer from what was written, not a read after the commit
    token, session = sessions.issue(tenant, user=user, how=sessions.LOGIN_LINK, kid=verified.kid, ctx=ctx, now=now)
    return Identified(user=user, visitor_id=visitor, token=token, session=session)
