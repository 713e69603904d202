"""Widget sessions and visitor ids: signed by the server, so checking one needs no write.

A session is an opaque bearer token (itsdangerous' default: HMAC-SHA1 with a key derived
from SIGNET_SECRET_KEY and a per-purpose salt) naming one tenant and one subject (an end user, or a visitor id), with an
expiry and the token's `ctx`. Logout records its `sid` in `revoked_session` until it expires.

A session also carries how it was made (HOW: anonymous, unsigned data, a token or a login link
and the kid that verified it, an email sign-in) and the generations it was issued under, and
`check` ends it as soon as what made it no longer holds (docs/SECURITY.md, "What ends a
session"): its kid revoked, the tenant switched to `required` (unsigned sessions), the user
verified since (unsigned sessions), "end all sessions" for the user, the user gone. Those facts
come with the rows a bearer request reads anyway, so the re-check adds no query and no write.
A visitor id is a random value signed the same way, so an unknown or forged one is told apart
without a lookup and the anonymous path writes nothing.
"""
from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone

from flask import current_app
from itsdangerous import BadSignature, Signer, URLSafeSerializer
from itsdangerous.encoding import base64_encode, want_bytes
from itsdangerous.serializer import Serializer
from sqlalchemy import delete, update
from sqlalchemy.exc import IntegrityError

from ...infra.database import writing
from ...extensions import db
from ...models import EndUser, RevokedSession
from ..keys import keyring
from . import snapshots
from .snapshots import TenantSettings

SESSION_SECONDS = 24 * 60 * 60
PRUNE_EVERY = 200
_revocations = [0]  # per process: every PRUNE_EVERY-th logout also deletes expired revocations
MAX_TOKEN_CHARS = 8192
# How a session was made, as carried in its payload ("h").
ANONYMOUS, UNSIGNED, TOKEN, LOGIN_LINK, EMAIL = "anonymous", "unsigned", "token", "login_link", "email"
LEGACY_HASH = "legacy_hash"  # a legacy user hash (legacy_hash.py): its secret's kid; ends with the legacy mode
PROVIDER = "provider"  # an identity provider's token (services/idp): kid "<provider id>:<JWKS kid>"
HOW = (ANONYMOUS, UNSIGNED, TOKEN, LOGIN_LINK, EMAIL, LEGACY_HASH, PROVIDER)
_WITH_KID = (TOKEN, LOGIN_LINK, LEGACY_HASH, PROVIDER)


@dataclass(frozen=True)
class WidgetSession:
    tenant_id: int
    user_id: int | None  # an identified (or anonymous, stored) end user
    visitor_id: str | None  # an anonymous visitor not stored yet
    sid: str
    expires_at: float
    ctx: dict = field(default_factory=dict)
    how: str = ANONYMOUS  # one of HOW
    kid: str | None = None  # the key or secret that verified it (token, login_link)
    user_generation: int = 0  # EndUser.sessions_generation when issued
    tenant_generation: int = 0  # Tenant.unsigned_sessions_generation when issued (unsigned)


class _Signer(Signer):
    """itsdangerous' Signer, deriving each key once (the serializer below keeps one Signer)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._derived: dict = {}

    def derive_key(self, secret_key: str | bytes | None = None) -> bytes:
        key = self._derived.get(secret_key)
        if key is None:
            key = self._derived[secret_key] = super().derive_key(secret_key)
        return key


class _Serializer(URLSafeSerializer):
    """itsdangerous' URL-safe serializer with one reused Signer, and no zlib attempt on small payloads.

    The library builds a Signer and derives its key for every call; here they are made once.
    A session or visitor id without `ctx` is about 80 bytes of JSON, which zlib cannot shorten,
    and trying cost a tenth of issuing a session. Larger payloads are compressed as before, and
    loading reads either form, so tokens issued before this change stay valid.
    """

    def make_signer(self, salt: str | bytes | None = None) -> Signer:
        if salt is not None and want_bytes(salt) != self.salt:
            return super().make_signer(salt)
        made = self.__dict__.get("_made_signer")
        if made is None:
            made = self._made_signer = super().make_signer()
        return made

    def dump_payload(self, obj: object) -> bytes:
        data = Serializer.dump_payload(self, obj)  # the JSON, uncompressed and unencoded
        if len(data) <= COMPRESS_OVER:
            return base64_encode(data)
        return super().dump_payload(obj)


COMPRESS_OVER = 256


def _serializer(purpose: str, app=None) -> URLSafeSerializer:
    app = app or current_app
    cache = app.extensions.setdefault("signet_serializers", {})
    if purpose not in cache:
        # itsdangerous' own HMAC-SHA1, given as hashlib's C constructor: its default is a Python
        # wrapper of it, which sends hmac down the pure-Python path (twice the cost of a check).
        cache[purpose] = _Serializer(app.config["SECRET_KEY"], salt=f"signet.{purpose}.v1", signer=_Signer,
                                     signer_kwargs={"digest_method": hashlib.sha1})
    return cache[purpose]


def new_visitor_id() -> str:
    return _serializer("visitor").dumps(secrets.token_urlsafe(16))


def check_visitor_id(value: object) -> str | None:
    """The visitor id when it is one this server issued, else None (a new one will be made).
    A visitor id never expires and its check depends only on the secret key, so the ids this
    process checked lately are remembered (per app, bounded) and not checked again."""
    if not isinstance(value, str) or not 10 < len(value) < 200:
        return None
    checked = _checked_visitors()
    if value in checked:
        return value
    try:
        _serializer("visitor").loads(value)
    except BadSignature:
        return None
    if len(checked) >= CHECKED_VISITORS:
        checked.clear()  # rare and cheap: ids are checked again as they come
    checked[value] = True
    return value


CHECKED_VISITORS = 4096


def _checked_visitors() -> dict:
    return current_app.extensions.setdefault("signet_checked_visitors", {})


def lifetime(app=None) -> int:
    """Seconds a widget session lasts: SIGNET_WIDGET_SESSION_SECONDS (default 24 hours)."""
    return (app or current_app).config.get("SIGNET_WIDGET_SESSION_SECONDS") or SESSION_SECONDS


def issue(tenant: TenantSettings, *, user=None, visitor_id: str | None = None, how: str = ANONYMOUS, kid: str | None = None,
          ctx: dict | None = None, now: float | None = None) -> tuple[str, WidgetSession]:
    """A new session for `user` (a snapshot or row: its id and sessions_generation) or, with no
    user, for the anonymous `visitor_id`; `how` and `kid` say what vouched for it."""
    if how not in HOW or (how == ANONYMOUS) != (user is None) or (how in _WITH_KID) != bool(kid):
        raise ValueError(f"A session cannot be made {how!r} with kid {kid!r} for {user!r}.")
    now = time.time() if now is None else now
    app = current_app._get_current_object()  # (one context lookup for the lifetime and the serializer)
    session = WidgetSession(
        tenant_id=tenant.id, user_id=user.id if user else None, visitor_id=None if user else visitor_id,
        sid=secrets.token_urlsafe(18), expires_at=int(now) + lifetime(app), ctx=ctx or {}, how=how, kid=kid,
        user_generation=user.sessions_generation if user else 0,
        tenant_generation=tenant.unsigned_sessions_generation if how == UNSIGNED else 0,
    )
    payload = {"t": session.tenant_id, "u": session.user_id, "v": session.visitor_id,
               "sid": session.sid, "exp": session.expires_at, "h": how}
    if kid:
        payload["k"] = kid
    if user:
        payload["g"] = session.user_generation
    if how == UNSIGNED:
        payload["tg"] = session.tenant_generation
    if session.ctx:
        payload["ctx"] = session.ctx
    return _serializer("session", app).dumps(payload), session


def check(token: object, tenant: TenantSettings, now: float | None = None) -> WidgetSession | None:
    """The session when the bearer token is ours, for this tenant (a snapshot), unexpired, not
    revoked, and what made it still holds. A user's session issued before sessions said how they
    were made counts as unsigned, the weakest kind (a verified user's such session has ended)."""
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_CHARS:
        return None
    try:
        data = _serializer("session").loads(token)
    except BadSignature:
        return None
    now = time.time() if now is None else now
    if not isinstance(data, dict) or data.get("t") != tenant.id or data.get("exp", 0) <= now:
        return None
    session = _from_payload(data)
    return session if _still_holds(session, tenant) else None


def _from_payload(data: dict) -> WidgetSession:
    """The session a payload this server signed describes (see `issue` for its keys)."""
    how = data.get("h") or (ANONYMOUS if data.get("u") is None else UNSIGNED)
    return WidgetSession(tenant_id=data["t"], user_id=data.get("u"), visitor_id=data.get("v"), sid=data["sid"],
                         expires_at=data["exp"], ctx=data.get("ctx") or {}, how=how, kid=data.get("k"),
                         user_generation=data.get("g", 0), tenant_generation=data.get("tg", 0))


def _still_holds(session: WidgetSession, tenant: TenantSettings) -> bool:
    """What made the session still vouches for it (one read: the user's row with the revocation)."""
    if session.how == ANONYMOUS:  # ends when the tenant stops allowing anonymous visitors
        return session.user_id is None and tenant.anonymous_visitors and not snapshots.session_revoked(session.sid)
    if session.how not in HOW or session.user_id is None:
        return False
    if session.how == LEGACY_HASH and not tenant.legacy_user_hash:
        return False  # the legacy mode was turned off: its hashes prove nothing any more
    if session.how == UNSIGNED and (tenant.verification_mode == "required"
                                    or session.tenant_generation < tenant.unsigned_sessions_generation):
        return False
    now = snapshots.session_user(session.sid, session.user_id, tenant.id)
    if now is None or now.revoked or session.user_generation < now.sessions_generation:
        return False
    if session.how == UNSIGNED and now.verified:
        return False  # unsigned data no longer speaks for a verified user
    if session.how == PROVIDER:  # ends when the provider is removed (its per-process list: no query)
        from ..idp.providers import by_public_id

        return by_public_id(tenant, session.kid) is not None
    return session.how not in _WITH_KID or keyring.unrevoked(tenant, session.kid)


def end_all_for_user(tenant_id: int, user_id: int) -> bool:
    """End every session of one end user of this tenant, at once and in every process: their
    generation moves on, and each session issued under an older one is refused from now on.
    False when the tenant has no such user (nothing changed). The dashboard and the server API
    call this."""
    with writing():
        ended = db.session.execute(
            update(EndUser).where(EndUser.id == user_id, EndUser.tenant_id == tenant_id)
            .values(sessions_generation=EndUser.sessions_generation + 1).returning(EndUser.id)
        ).scalar()
    return ended is not None


def revoke(session: WidgetSession, now: float | None = None) -> None:
    """End a session on the server; expired revocations are pruned on the fly now and then.
    Two logouts of one session at once both succeed: the second finds it revoked."""
    try:
        with writing():
            if db.session.get(RevokedSession, session.sid) is None:
                db.session.add(RevokedSession(sid=session.sid, tenant_id=session.tenant_id,
                                              expires_at=datetime.fromtimestamp(session.expires_at, timezone.utc)))
            _revocations[0] += 1
            if _revocations[0] % PRUNE_EVERY == 0:
                now_dt = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
                db.session.execute(delete(RevokedSession).where(RevokedSession.expires_at < now_dt))
    except IntegrityError:
        pass  # revoked by the concurrent call: the outcome asked for


def expires_iso(session: WidgetSession) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(session.expires_at))



