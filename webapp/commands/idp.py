"""`signet idp add|list|remove`: a workspace's identity providers (docs/CLI.md)."""
from __future__ import annotations

import click

from ..cli import emit, signet, tenant_command
from ..models import Tenant
from ..services.idp import providers


@signet.group("idp")
def idp_group():
    """Identity providers whose ID tokens identify end users (no backend code)."""


@tenant_command(idp_group, "add")
@click.option("--issuer", required=True, help="The provider's issuer URL, as its tokens' iss carries it.")
@click.option("--jwks-url", default=None, help="The JWKS URL (default: discovered from the issuer).")
@click.option("--audience", "audiences", multiple=True, help="An aud a token must contain (your client id).")
@click.option("--authorized-party", "parties", multiple=True, help="An azp a token may carry instead (Clerk: your origin).")
@click.option("--id-claim", default="sub", show_default=True, help="The claim that is the user's id.")
@click.option("--attr-claim", "attr_claims", multiple=True, help="A claim copied into attrs.")
@click.option("--organizations-claim", default=None, help="A claim holding the user's organization id(s).")
@click.option("--name", default=None, help="A name for pages and logs (default: the issuer's host).")
def idp_add(tenant: Tenant, issuer, jwks_url, audiences, parties, id_claim, attr_claims, organizations_claim, name):
    """Discover the provider's JWKS, fetch its keys once and configure it."""
    row = providers.add(tenant, issuer=issuer, jwks_url=jwks_url, audiences=audiences,
                        authorized_parties=parties, id_claim=id_claim, attr_claims=attr_claims,
                        organizations_claim=organizations_claim, name=name)
    emit(providers.summary(row))


@tenant_command(idp_group, "list")
def idp_list(tenant: Tenant):
    emit({"providers": [providers.summary(row) for row in providers.list_providers(tenant)]})


@tenant_command(idp_group, "remove")
@click.argument("provider_id")
def idp_remove(tenant: Tenant, provider_id: str):
    """Remove a provider: its tokens stop verifying and the sessions they made end."""
    providers.remove(tenant, provider_id)
    emit({"id": provider_id, "removed": True})
