"""Login links from the dashboard's side (API.md §5): seats in use, and a test link an admin can open.

The test link is what a tenant's backend would mint: a login-only code (`{"id"}`: it signs in an
existing user and changes nothing), one-time (`jti`, with `iat`), valid five minutes (less when
the workspace's maximum age is shorter), with the workspace's audience, issuer and tenant id,
signed with the newest active HS256 secret. It is returned once and never stored.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import quote

import jwt

from ...models import Tenant
from ..keys import keyring
from . import snapshots
from ..errors import Invalid

TEST_LINK_SECONDS = 300


@dataclass(frozen=True)
class MintedLink:
    url: str
    user_id: str
    kid: str
    expires_at: datetime


def link_url(base: str, tenant_public_id: str, code: str) -> str:
    return f"{base.rstrip('/')}/m/{tenant_public_id}?externalAuthCode={quote(code, safe='')}"


def mint_test_link(tenant: Tenant, external_id: str, base: str, now: float | None = None) -> MintedLink:
    """A one-time, five-minute login link for an existing user; Invalid when there is no
    such user or no secret to sign with."""
    # Ids are kept exactly as sent (the core's rule): " u-1 " and "u-1" are two users.
    user = snapshots.user(tenant.id, external_id) if external_id else None
    if user is None or user.anonymous:
        raise Invalid("invalid_field", "No user of this workspace has this id: pick one from the Users page.", "user_id")
    secret = keyring.newest_secret(tenant)
    if secret is None:
        raise Invalid("invalid_field", "This workspace has no active signing secret: create one under Secrets and keys first.",
                           "user_id")
    kid, key = secret
    now = int(time.time() if now is None else now)
    lifetime = min(TEST_LINK_SECONDS, tenant.login_links_max_age or TEST_LINK_SECONDS)
    claims = {"id": external_id, "aud": tenant.audience, "tid": tenant.public_id, "iat": now,
              "exp": now + lifetime, "jti": str(uuid.uuid4())}
    if tenant.issuer:
        claims["iss"] = tenant.issuer
    code = jwt.encode(claims, key, algorithm="HS256", headers={"kid": kid})
    return MintedLink(url=link_url(base, tenant.public_id, code), user_id=external_id, kid=kid,
                    expires_at=datetime.fromtimestamp(now + lifetime, timezone.utc))
