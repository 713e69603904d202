"""`signet webhook add|list|remove|enable`: a workspace's webhook endpoints (the Settings →
Webhooks page calls the same services/webhooks/endpoints.py). There is no `disable`: an endpoint
is disabled only by the worker, after days of failures; `enable` turns it back on."""
from __future__ import annotations

import click

from ..cli import emit, signet, tenant_command
from ..models import Tenant
from ..services.webhooks import endpoints


@signet.group("webhook")
def webhook_group():
    """Webhook endpoints: where Signet POSTs signed events."""


@tenant_command(webhook_group, "add")
@click.option("--url", required=True, help="https://… (http and private addresses need SIGNET_ALLOW_PRIVATE_URLS=1).")
@click.option("--event", "event_names", multiple=True, help="An event type; repeat. None: every event.")
def webhook_add(tenant: Tenant, url: str, event_names: tuple[str, ...]):
    """Add an endpoint; prints its signing secret (whsec_…) this once."""
    endpoint, secret = endpoints.add(tenant, url, event_names)
    emit(endpoints.to_dict(endpoint, secret))


@tenant_command(webhook_group, "list")
def webhook_list(tenant: Tenant):
    emit({"endpoints": [endpoints.to_dict(e) for e in endpoints.list_for(tenant)]})


@tenant_command(webhook_group, "remove")
@click.argument("endpoint_id")
def webhook_remove(tenant: Tenant, endpoint_id: str):
    endpoints.remove(tenant, endpoint_id)
    emit({"removed": endpoint_id})


@tenant_command(webhook_group, "enable")
@click.argument("endpoint_id")
def webhook_enable(tenant: Tenant, endpoint_id: str):
    emit(endpoints.to_dict(endpoints.set_enabled(tenant, endpoint_id, True)))
