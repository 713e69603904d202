"""A tenant's identity providers: add (with discovery and a first JWKS fetch), list, remove, and
the per-process view the token path reads.

The CLI and the settings page call these same functions. Adding or removing one bumps the
tenant's `keys_version` (as a key change does), so every process reloads its providers at once;
until then a token costs no query for them. Audited as idp.added / idp.removed.
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import urllib.parse
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update

from ...extensions import db
from ...identity.providers import JwkSet, ProviderPolicy, parse_jwks
from ...infra import outbound
from ...infra.database import writing
from ...models import IdentityProvider, Tenant
from ...models._types import utcnow
from .. import audit
from ..end_users.snapshots import TenantSettings
from ..errors import Conflict, Invalid, NotFound
from ..workspace.validation import check_issuer
from . import jwks

MAX_PROVIDERS = 5
MAX_LIST = 10
_CLAIM = re.compile(r"[\x21-\x7e]{1,64}")
_lock = threading.Lock()


@dataclass(frozen=True)
class Configured:
    """A provider as the token path holds it (per process, per keys_version)."""

    id: int
    policy: ProviderPolicy


def configured(tenant: TenantSettings) -> tuple[Configured, ...]:
    """The tenant's providers, read once per process and keys_version (no query per token)."""
    cache = current_app.extensions.setdefault("signet_idp_config", {})
    hit = cache.get(tenant.id)
    if hit is not None and hit[0] == tenant.keys_version:
        return hit[1]
    rows = db.session.scalars(select(IdentityProvider).where(IdentityProvider.tenant_id == tenant.id)
                              .order_by(IdentityProvider.id))
    found = tuple(Configured(row.id, policy_of(row)) for row in rows)
    with _lock:
        cache[tenant.id] = (tenant.keys_version, found)
    return found


def policy_of(row: IdentityProvider) -> ProviderPolicy:
    return ProviderPolicy(public_id=row.public_id, name=row.name, issuer=row.issuer,
                          audiences=tuple(row.audiences or ()), authorized_parties=tuple(row.authorized_parties or ()),
                          id_claim=row.id_claim, attr_claims=tuple(row.attr_claims or ()),
                          organizations_claim=row.organizations_claim)


def by_public_id(tenant: TenantSettings, public_id: str | None) -> Configured | None:
    """The configured provider a session or user names (`<public id>:<kid>`), from the cache."""
    wanted = (public_id or "").split(":", 1)[0]
    return next((p for p in configured(tenant) if p.policy.public_id == wanted), None)


def add(tenant: Tenant, *, issuer: str, jwks_url: str | None = None, audiences=(), authorized_parties=(),
        id_claim: str | None = None, attr_claims=(), organizations_claim: str | None = None,
        name: str | None = None) -> IdentityProvider:
    """Configure a provider: check the settings, discover the JWKS URL (unless given), fetch the
    keys once; nothing is stored unless all of it worked. Refusals name the field at fault."""
    issuer = _url(check_issuer(issuer), "issuer")
    audiences, parties = _strings(audiences, "audience"), _strings(authorized_parties, "authorized_party")
    if not audiences and not parties:
        raise Invalid("invalid_field", "Give at least one audience (your app's client id at the provider) or "
                      "authorized party (Clerk: your app's origin): without one, an ID token your provider made for "
                      "any other app would sign users in here.", "audience")
    id_claim = _claim(id_claim or "sub", "id_claim")
    attr_claims = [_claim(c, "attr_claim") for c in _strings(attr_claims, "attr_claim")]
    organizations_claim = _claim(organizations_claim, "organizations_claim") if organizations_claim else None
    name = (name or "").strip() or urllib.parse.urlsplit(issuer).hostname or issuer
    if len(name) > 120:
        raise Invalid("invalid_field", "A name is at most 120 characters.", "name")
    if db.session.scalar(select(IdentityProvider.id).where(IdentityProvider.tenant_id == tenant.id,
                                                           IdentityProvider.issuer == issuer)):
        raise Conflict("idp_exists", f"This workspace already has a provider with issuer {issuer}.", "issuer")
    discovered = not jwks_url
    if discovered:
        issuer, jwks_url = discover(issuer)
    else:
        jwks_url = _url(jwks_url, "jwks_url")
        _checked(jwks_url, "jwks_url")
    fetched = jwks.fetch(jwks_url)
    if fetched.error is not None:
        raise Invalid("idp_unreachable", f"The JWKS at {jwks_url} could not be used: {fetched.error}", "jwks_url")
    return _store(tenant, dict(issuer=issuer, jwks_url=jwks_url, discovered=discovered, audiences=audiences,
                               authorized_parties=parties, id_claim=id_claim, attr_claims=attr_claims,
                               organizations_claim=organizations_claim, name=name), fetched)


def _store(tenant: Tenant, settings: dict, fetched: jwks.Fetched) -> IdentityProvider:
    with writing():
        _bump(tenant)  # first: on PostgreSQL it locks the tenant row, so two adds are counted in turn
        count = db.session.scalar(select(db.func.count()).select_from(IdentityProvider)
                                  .where(IdentityProvider.tenant_id == tenant.id))
        if count >= MAX_PROVIDERS:
            raise Conflict("idp_limit_reached", f"A workspace may have {MAX_PROVIDERS} identity providers: remove "
                           "one first.")
        if db.session.scalar(select(IdentityProvider.id).where(IdentityProvider.tenant_id == tenant.id,
                                                               IdentityProvider.issuer == settings["issuer"])):
            raise Conflict("idp_exists", f"This workspace already has a provider with issuer {settings['issuer']}.",
                           "issuer")
        now = utcnow()
        row = IdentityProvider(tenant_id=tenant.id, public_id="idp_" + secrets.token_urlsafe(9), created_at=now,
                               jwks_document=fetched.document, jwks_fetched_at=now,
                               jwks_expires_at=now + timedelta(seconds=fetched.ttl), **settings)
        db.session.add(row)
        db.session.flush()
        audit.record(tenant.id, "idp.added", row.public_id, after={k: v for k, v in settings.items()})
    return row


def discover(issuer: str) -> tuple[str, str]:
    """(the issuer exactly as the provider writes it, its jwks_uri) from
    `<issuer>/.well-known/openid-configuration`; the document's issuer must be the one given."""
    url = issuer.rstrip("/") + "/.well-known/openid-configuration"
    _checked(url, "issuer")
    try:
        answer = outbound.fetch(url, headers={"Accept": "application/json"}, max_bytes=jwks.MAX_BYTES)
    except outbound.OutboundFailed as error:
        raise Invalid("idp_unreachable", f"The discovery document at {url} could not be read: {error.reason}",
                      "issuer") from None
    try:
        document = json.loads(answer.body) if answer.status == 200 and not answer.truncated else None
    except ValueError:
        document = None
    if not isinstance(document, dict) or not isinstance(document.get("jwks_uri"), str):
        raise Invalid("idp_unreachable", f"{url} did not answer an OpenID configuration with a jwks_uri "
                      f"(HTTP {answer.status}): check the issuer, or give the JWKS URL.", "issuer")
    found = document.get("issuer")
    if not isinstance(found, str) or found.rstrip("/") != issuer.rstrip("/"):
        raise Invalid("invalid_field", f"The discovery document names issuer {str(found)[:200]!r}, not {issuer}: "
                      "use the issuer exactly as your provider's tokens carry it.", "issuer")
    jwks_url = _url(document["jwks_uri"], "jwks_url")
    _checked(jwks_url, "jwks_url")
    return found, jwks_url


def remove(tenant: Tenant, public_id: str) -> None:
    """Remove a provider: its tokens stop verifying and the sessions they made end, in every process."""
    with writing():
        row = db.session.scalar(select(IdentityProvider).where(IdentityProvider.tenant_id == tenant.id,
                                                               IdentityProvider.public_id == public_id))
        if row is None:
            raise NotFound("not_found", f"No identity provider {public_id} in this workspace.", "id")
        provider_id = row.id
        _bump(tenant)
        db.session.execute(delete(IdentityProvider).where(IdentityProvider.id == row.id))
        audit.record(tenant.id, "idp.removed", public_id, before={"issuer": row.issuer, "name": row.name})
    jwks.forget(provider_id)


def list_providers(tenant: TenantSettings) -> list[IdentityProvider]:
    return list(db.session.scalars(select(IdentityProvider).where(IdentityProvider.tenant_id == tenant.id)
                                   .order_by(IdentityProvider.created_at, IdentityProvider.id)))


def summary(row: IdentityProvider) -> dict:
    """A provider as the CLI prints it and the page shows it: settings, keys found and ignored,
    the last fetch and the last failure."""
    keyset = _stored_keys(row.jwks_document)
    return {
        "id": row.public_id, "name": row.name, "issuer": row.issuer, "jwks_url": row.jwks_url,
        "discovered": row.discovered, "audiences": list(row.audiences or ()),
        "authorized_parties": list(row.authorized_parties or ()), "id_claim": row.id_claim,
        "attr_claims": list(row.attr_claims or ()), "organizations_claim": row.organizations_claim,
        "keys": [{"kid": k.kid, "alg": k.alg} for k in keyset.keys],
        "ignored_keys": [{"kid": kid, "reason": reason} for kid, reason in keyset.ignored],
        "fetched_at": _iso(row.jwks_fetched_at), "expires_at": _iso(row.jwks_expires_at),
        "last_error": row.jwks_error, "last_error_at": _iso(row.jwks_error_at), "created_at": _iso(row.created_at),
    }


def _stored_keys(document: str | None) -> JwkSet:
    try:
        return parse_jwks(document) if document else JwkSet()
    except ValueError:
        return JwkSet()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _bump(tenant: Tenant) -> None:
    db.session.execute(update(Tenant).where(Tenant.id == tenant.id).values(keys_version=Tenant.keys_version + 1))
    db.session.expire(tenant, ["keys_version"])


def _url(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip() or len(value.strip()) > 2048:
        raise Invalid("invalid_field", "Give a URL of at most 2048 characters.", field)
    value = value.strip()
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port out of range, as urlsplit does on a broken [host]
    except ValueError:
        raise Invalid("invalid_field", f"{value[:200]} is not a valid URL.", field) from None
    if parts.scheme not in ("https", "http") or not parts.hostname or parts.fragment:
        raise Invalid("invalid_field", f"{value[:200]} is not an https:// URL.", field)
    return value


def _checked(url: str, field: str) -> None:
    """The outbound rules at setup: https, a public address (unless SIGNET_ALLOW_PRIVATE_URLS)."""
    try:
        outbound.check_url(url)
    except outbound.OutboundRefused as error:
        raise outbound.OutboundRefused(f"{url[:200]}: {error.reason}", field) from None
    except outbound.OutboundFailed as error:
        raise Invalid("idp_unreachable", f"{url[:200]}: {error.reason}", field) from None


def _strings(values, field: str) -> list[str]:
    if isinstance(values, str):
        values = [values]
    found = []
    for value in values or ():
        if not isinstance(value, str) or not value.strip() or len(value.strip()) > 255:
            raise Invalid("invalid_field", "Each value is 1 to 255 characters.", field)
        if value.strip() not in found:
            found.append(value.strip())
    if len(found) > MAX_LIST:
        raise Invalid("invalid_field", f"At most {MAX_LIST} values.", field)
    return found


def _claim(value: object, field: str) -> str:
    if not isinstance(value, str) or not _CLAIM.fullmatch(value.strip()):
        raise Invalid("invalid_field", "A claim name is 1 to 64 visible characters, without spaces.", field)
    return value.strip()
