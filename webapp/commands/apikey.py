"""`signet apikey create|revoke|list`: API keys of the server API (docs/CLI.md)."""
from __future__ import annotations

import click

from ..cli import command, emit, signet
from ..models import API_KEY_SCOPES
from ..services.keys import apikeys
from ..services.workspace import tenants


@signet.group("apikey")
def apikey_group():
    """API keys for the server API (/api/v1/server/)."""


@command(apikey_group, "create")
@click.argument("tenant_id")
@click.option("--name", required=True, help="What the key is for (shown in Settings → API keys).")
@click.option("--scope", type=click.Choice(API_KEY_SCOPES), default="read", show_default=True)
def apikey_create(tenant_id: str, name: str, scope: str):
    """Make a key; its JSON is the only time the key itself is shown."""
    row, key = apikeys.create(tenants.get_tenant(tenant_id), name, scope)
    emit(apikeys.to_dict(row, key))


@command(apikey_group, "revoke")
@click.argument("tenant_id")
@click.argument("key_id")
def apikey_revoke(tenant_id: str, key_id: str):
    """End a key at once: the next request with it is 401."""
    emit(apikeys.to_dict(apikeys.revoke(tenants.get_tenant(tenant_id), key_id)))


@command(apikey_group, "list")
@click.argument("tenant_id")
def apikey_list(tenant_id: str):
    emit({"keys": [apikeys.to_dict(row) for row in apikeys.keys_of(tenants.get_tenant(tenant_id))]})
