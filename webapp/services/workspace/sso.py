"""Single sign-on for staff (issue 17, item 2): a workspace's OpenID Connect provider.

Settings (owners): issuer, client id, client secret (sealed at rest with the signing secrets'
box, keyring.secret_box(), bound to the workspace; never shown again), an email domain unique
across workspaces, the role of members it creates, and "SSO only" (passwords refused for that
domain). Every change is audited as sso.changed, without the secret. The sign-in protocol is
sso_login.py."""
from __future__ import annotations

import re
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from ...extensions import db
from ...infra import outbound
from ...infra.database import writing
from ...models import SsoProvider, Tenant
from ...models._types import utcnow
from .. import audit
from ..errors import Conflict, Invalid
from ..keys.keyring import secret_box
from . import members
from .validation import check_issuer

DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z][a-z0-9-]{0,61}[a-z0-9]$")


@dataclass(frozen=True)
class SsoSettings:
    issuer: str
    client_id: str
    client_secret: str  # "" keeps the stored one
    email_domain: str
    default_role: str = "agent"
    sso_only: bool = False


def provider_of(tenant_id: int) -> SsoProvider | None:
    return db.session.scalar(select(SsoProvider).where(SsoProvider.tenant_id == tenant_id))


def domain_of(email: str) -> str:
    return (email or "").strip().lower().rpartition("@")[2]


def provider_for_email(email: str) -> SsoProvider | None:
    """The provider whose domain is this address's (exact domain match), or None."""
    domain = domain_of(email)
    if not domain or "@" not in (email or ""):
        return None
    return db.session.scalar(select(SsoProvider).where(SsoProvider.email_domain == domain))


def password_refused(email: str) -> bool:
    """An address of an "SSO only" domain may not log in with a password."""
    provider = provider_for_email(email)
    return provider is not None and provider.sso_only


def client_secret(provider: SsoProvider) -> str:
    return secret_box().decrypt(provider.client_secret_ciphertext, _aad(provider.tenant_id))


def _aad(tenant_id: int) -> str:
    return f"sso:{tenant_id}"


def summary(provider: SsoProvider | None) -> dict | None:
    """What the page and the audit log show: never the secret."""
    if provider is None:
        return None
    return {"issuer": provider.issuer, "client_id": provider.client_id, "email_domain": provider.email_domain,
            "default_role": provider.default_role, "sso_only": provider.sso_only}


def _validated(settings: SsoSettings, has_secret: bool) -> dict:
    issuer = settings.issuer.strip().rstrip("/")
    if not issuer or len(issuer) > 255:
        raise Invalid("invalid_field", "Enter the provider's issuer URL, e.g. https://login.example.com.", "issuer")
    check_issuer(issuer)
    outbound.check_url(issuer)  # https and a public address (unless SIGNET_ALLOW_PRIVATE_URLS)
    client_id = settings.client_id.strip()
    if not client_id or len(client_id) > 255 or not client_id.isprintable():
        raise Invalid("invalid_field", "Enter the client id the provider gave this application.", "client_id")
    if not settings.client_secret and not has_secret:
        raise Invalid("invalid_field", "Enter the client secret the provider gave this application.", "client_secret")
    if len(settings.client_secret) > 1024:
        raise Invalid("invalid_field", "The client secret is at most 1024 characters.", "client_secret")
    domain = settings.email_domain.strip().lower().lstrip("@")
    if not DOMAIN.match(domain):
        raise Invalid("invalid_field", "Enter an email domain such as example.com.", "email_domain")
    members.check_role(settings.default_role)
    if settings.default_role == "owner":
        raise Invalid("invalid_field", "Single sign-on makes admins or agents; an owner grants ownership.", "default_role")
    return {"issuer": issuer, "client_id": client_id, "email_domain": domain, "default_role": settings.default_role,
            "sso_only": bool(settings.sso_only)}


def configure(tenant: Tenant, settings: SsoSettings) -> SsoProvider:
    """Create or change the workspace's provider; a refusal changes nothing."""
    try:
        with writing():
            provider = provider_of(tenant.id)
            values = _validated(settings, provider is not None)
            before = summary(provider) or {}
            if provider is None:
                provider = SsoProvider(tenant_id=tenant.id, created_at=utcnow())
                db.session.add(provider)
            for key, value in values.items():
                setattr(provider, key, value)
            if settings.client_secret:
                provider.client_secret_ciphertext = secret_box().encrypt(settings.client_secret, _aad(tenant.id))
            provider.updated_at = utcnow()
            db.session.flush()
            old, new = audit.changed(before, values)
            if settings.client_secret:
                new["client_secret"] = "replaced" if before else "set"
            audit.record(tenant.id, "sso.changed", values["email_domain"], before=old or None, after=new)
    except IntegrityError:  # uq_sso_provider_email_domain
        raise Conflict("domain_taken", "Another workspace signs in this email domain already.", "email_domain") from None
    return provider


def remove(tenant: Tenant) -> None:
    with writing():
        provider = provider_of(tenant.id)
        if provider is not None:
            audit.record(tenant.id, "sso.removed", provider.email_domain, before=summary(provider))
            db.session.delete(provider)
