"""Tenants: creation with their owner, and the settings of `signet tenant set`."""
from __future__ import annotations

import enum
import re
import secrets
import unicodedata
from dataclasses import dataclass
from typing import Final, Literal

from sqlalchemy import select

from ...infra.database import writes
from ...extensions import db
from ...identity.verifier import default_audience
from ...models import EMAIL_SIGN_IN_MODES, VERIFICATION_MODES, Membership, Tenant
from . import members
from .. import audit
from ..errors import Invalid, NotFound
from .validation import check_issuer, normalize_origin

MAX_ORIGINS = 50


def _public_id(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")[:24].strip("-") or "workspace"
    alphabet = "abcdefghijkmnpqrstuvwxyz23456789"
    return f"{slug}-{''.join(secrets.choice(alphabet) for _ in range(6))}"


def check_name(name: str) -> str:
    name = (name or "").strip()
    if not 1 <= len(name) <= 120:
        raise Invalid("invalid_field", "The workspace name must be 1 to 120 characters.", "name")
    if any(unicodedata.category(c) == "Cc" for c in name):  # it goes into mail headers and pages
        raise Invalid("invalid_field", "The workspace name cannot contain line breaks or other control characters.", "name")
    return name


@writes
def create_tenant(name: str, owner_email: str, owner_password: str, *, verified: bool = True,
                  password_hash: str | None = None) -> Tenant:
    """A new workspace and a new owner account, in one transaction.

    The owner is verified by default: the operator's CLI and `signet demo` are trusted. /signup
    passes verified=False (services/staff_tokens.sign_up): the address is proven by a mailed link.
    """
    name = check_name(name)
    owner = members.create_member(owner_email, owner_password, verified=verified, password_hash=password_hash)
    tenant = _new_tenant(name)
    db.session.add(Membership(tenant=tenant, member=owner, role="owner"))
    db.session.flush()
    audit.record(tenant.id, "tenant.created", tenant.public_id, after={"name": name, "owner": owner.email})
    return tenant


@writes
def create_tenant_for(member, name: str) -> Tenant:
    """A further workspace owned by an existing member."""
    tenant = _new_tenant(check_name(name))
    db.session.add(Membership(tenant=tenant, member=member, role="owner"))
    db.session.flush()
    audit.record(tenant.id, "tenant.created", tenant.public_id, after={"name": tenant.name, "owner": member.email})
    return tenant


def _new_tenant(name: str) -> Tenant:
    while True:
        public_id = _public_id(name)
        if db.session.scalar(select(Tenant.id).where(Tenant.public_id == public_id)) is None:
            break
    # Its own audience (not the shared "signet-widget" of older workspaces): a token made for this
    # workspace, as every sample makes it, is refused by another that holds the same public key.
    tenant = Tenant(public_id=public_id, name=name, allowed_origins=[], audience=default_audience(public_id))
    db.session.add(tenant)
    return tenant


def get_tenant(public_id: str) -> Tenant:
    tenant = db.session.scalar(select(Tenant).where(Tenant.public_id == public_id))
    if tenant is None:
        raise NotFound("not_found", f"No tenant with id '{public_id}'.", "tenant_id")
    return tenant


class _Clear(enum.Enum):
    """A setting to remove (no limit, no pinned issuer), as opposed to None: leave it as it is."""

    CLEAR = "CLEAR"

    def __repr__(self) -> str:
        return "CLEAR"


CLEAR: Final = _Clear.CLEAR
Clear = Literal[_Clear.CLEAR]


ANONYMOUS_TEXT_MAX = 500


@dataclass
class Settings:
    """Every setting the CLI and the settings pages change: None = leave as is, CLEAR = remove it.

    A limit may also be the text of a whole number (as typed at the CLI: the CLI turns its
    `none` into CLEAR itself)."""

    name: str | None = None
    verification_mode: str | None = None
    allowed_origins: list[str] | None = None
    seat_limit: int | str | Clear | None = None
    unsigned_user_limit: int | str | Clear | None = None
    audience: str | None = None
    require_audience: bool | None = None
    issuer: str | Clear | None = None  # blank text is no pin too
    login_links_enabled: bool | None = None
    login_links_require_jti: bool | None = None
    login_links_max_age: int | str | Clear | None = None
    email_sign_in: str | None = None
    require_two_factor: bool | None = None  # owners only on the pages (Team); the CLI is trusted
    anonymous_visitors: bool | None = None
    anonymous_text: str | Clear | None = None  # shown instead of a chat when anonymous visitors are not allowed
    legacy_user_hash: bool | None = None  # setUser({id, userHash}) proves the id (services/end_users/legacy_hash.py)


@writes
def update_settings(tenant: Tenant, changes: Settings) -> Tenant:
    """Validate every change first, then apply them together: a refusal changes nothing.

    Switching to `required` ends every unsigned widget session at once (sessions.check)."""
    values = _validated(changes)
    if values.get("verification_mode") == "required" and tenant.verification_mode != "required":
        tenant.unsigned_sessions_generation = Tenant.unsigned_sessions_generation + 1
    before, after = audit.changed({key: getattr(tenant, key) for key in values}, values)
    for key, value in values.items():
        setattr(tenant, key, value)
    if after:  # only the fields that changed; a save that changes nothing is no entry
        audit.record(tenant.id, "settings.changed", tenant.public_id, before=before, after=after)
    return tenant


def _validated(c: Settings) -> dict:
    out: dict = {}
    if c.name is not None:
        out["name"] = check_name(c.name)
    if c.verification_mode is not None:
        out["verification_mode"] = _choice(c.verification_mode, VERIFICATION_MODES, "verification_mode")
    if c.allowed_origins is not None:
        origins = [normalize_origin(o) for o in c.allowed_origins if o.strip()]
        if len(origins) > MAX_ORIGINS:
            raise Invalid("invalid_field", f"At most {MAX_ORIGINS} allowed origins.", "allowed_origins")
        out["allowed_origins"] = list(dict.fromkeys(origins))
    if c.seat_limit is not None:
        out["seat_limit"] = _optional_int(c.seat_limit, "seat_limit", minimum=0)
    if c.unsigned_user_limit is not None:
        out["unsigned_user_limit"] = _optional_int(c.unsigned_user_limit, "unsigned_user_limit", minimum=0)
    if c.audience is not None:
        out["audience"] = _text(c.audience, "audience", required=True)
    if c.require_audience is not None:
        out["require_audience"] = bool(c.require_audience)
    if c.issuer is not None:
        out["issuer"] = None if c.issuer is CLEAR else (check_issuer(_text(c.issuer, "issuer", required=False)) or None)
    if c.login_links_enabled is not None:
        out["login_links_enabled"] = bool(c.login_links_enabled)
    if c.login_links_require_jti is not None:
        out["login_links_require_jti"] = bool(c.login_links_require_jti)
    if c.login_links_max_age is not None:
        out["login_links_max_age"] = _optional_int(c.login_links_max_age, "login_links_max_age", minimum=1)
    if c.email_sign_in is not None:
        out["email_sign_in"] = _choice(c.email_sign_in, EMAIL_SIGN_IN_MODES, "email_sign_in")
    if c.require_two_factor is not None:
        out["require_two_factor"] = bool(c.require_two_factor)
    if c.anonymous_visitors is not None:
        out["anonymous_visitors"] = bool(c.anonymous_visitors)
    if c.legacy_user_hash is not None:
        out["legacy_user_hash"] = bool(c.legacy_user_hash)
    if c.anonymous_text is not None:
        text = "" if c.anonymous_text is CLEAR else c.anonymous_text.strip()
        if len(text) > ANONYMOUS_TEXT_MAX or "\x00" in text:
            raise Invalid("invalid_field", f"At most {ANONYMOUS_TEXT_MAX} characters.", "anonymous_text")
        out["anonymous_text"] = text or None
    return out


def _choice(value: str, allowed: tuple[str, ...], field: str) -> str:
    if value not in allowed:
        raise Invalid("invalid_field", f"Must be one of {', '.join(allowed)} (got '{value}').", field)
    return value


def _optional_int(value: int | str | Clear, field: str, minimum: int) -> int | None:
    """A limit: a whole number (or its text), or CLEAR for none."""
    if value is CLEAR:
        return None
    if isinstance(value, str):
        text = value.strip()
        if not (text.isascii() and text.isdigit()):  # "²".isdigit() is true and int("²") fails
            # Text comes from the CLI only, where `none` (made CLEAR there) is the other choice.
            raise Invalid("invalid_field", f"Must be a whole number or 'none' (got '{value}').", field)
        value = int(text)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum or value > 2**31 - 1:
        raise Invalid("invalid_field", f"Must be a whole number of at least {minimum}.", field)
    return value


def _text(value: str, field: str, required: bool) -> str:
    text = value.strip()
    if required and not text:
        raise Invalid("invalid_field", "Must not be empty.", field)
    if len(text) > 255 or "\x00" in text:
        raise Invalid("invalid_field", "At most 255 characters.", field)
    return text


def to_dict(tenant: Tenant) -> dict:
    """The tenant as the CLI prints it."""
    return {
        "tenant_id": tenant.public_id,
        "name": tenant.name,
        "verification": tenant.verification_mode,
        "allowed_origins": list(tenant.allowed_origins or []),
        "seat_limit": tenant.seat_limit,
        "unsigned_user_limit": tenant.unsigned_user_limit,
        "audience": tenant.audience,
        "require_audience": tenant.require_audience,
        "issuer": tenant.issuer,
        "login_links": "on" if tenant.login_links_enabled else "off",
        "login_links_require_jti": tenant.login_links_require_jti,
        "login_links_max_age": tenant.login_links_max_age,
        "email_sign_in": tenant.email_sign_in,
        "require_2fa": "on" if tenant.require_two_factor else "off",
        "anonymous_visitors": "off" if tenant.anonymous_visitors is False else "on",
        "anonymous_text": tenant.anonymous_text,
        "legacy_user_hash": "on" if tenant.legacy_user_hash else "off",
    }
