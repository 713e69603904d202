"""`signet webhook add|list|remove|enable|disable`: a workspace's webhook endpoints (the Settings →
Webhooks page calls the same services/webhooks/endpoints.py)."""
from __future__ import annotations

import click

from ..cli import command, emit, signet
from ..services.webhooks import endpoints
from ..services.workspace import tenants


@signet.group("webhook")
def webhook_group():
    """Webhook endpoints: where Signet POSTs signed events."""


@command(webhook_group, "add")
@click.argument("tenant_id")
@click.option("--url", required=True, help="https://… (http and private addresses need SIGNET_ALLOW_PRIVATE_URLS=1).")
@click.option("--event", "event_names", multiple=True, help="An event type; repeat. None: every event.")
def webhook_add(tenant_id: str, url: str, event_names: tuple[str, ...]):
    """Add an endpoint; prints its signing secret (whsec_…) this once."""
    endpoint, secret = endpoints.add(tenants.get_tenant(tenant_id), url, event_names)
    emit(endpoints.to_dict(endpoint, secret))


@command(webhook_group, "list")
@click.argument("tenant_id")
def webhook_list(tenant_id: str):
    emit({"endpoints": [endpoints.to_dict(e) for e in endpoints.list_for(tenants.get_tenant(tenant_id))]})


@command(webhook_group, "remove")
@click.argument("tenant_id")
@click.argument("endpoint_id")
def webhook_remove(tenant_id: str, endpoint_id: str):
    endpoints.remove(tenants.get_tenant(tenant_id), endpoint_id)
    emit({"removed": endpoint_id})


@command(webhook_group, "enable")
@click.argument("tenant_id")
@click.argument("endpoint_id")
def webhook_enable(tenant_id: str, endpoint_id: str):
    emit(endpoints.to_dict(endpoints.set_enabled(tenants.get_tenant(tenant_id), endpoint_id, True)))
