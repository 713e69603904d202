"""`signet apikey create|revoke|list`: API keys of the server API (docs/CLI.md)."""
from __future__ import annotations

import click

from ..cli import emit, signet, tenant_command
from ..models import API_KEY_SCOPES, Tenant
from ..services.keys import apikeys


@signet.group("apikey")
def apikey_group():
    """API keys for the server API (/api/v1/server/)."""


@tenant_command(apikey_group, "create")
@click.option("--name", required=True, help="What the key is for (shown in Settings → API keys).")
@click.option("--scope", type=click.Choice(API_KEY_SCOPES), default="read", show_default=True)
def apikey_create(tenant: Tenant, name: str, scope: str):
    """Make a key; its JSON is the only time the key itself is shown."""
    row, key = apikeys.create(tenant, name, scope)
    emit(apikeys.to_dict(row, key))


@tenant_command(apikey_group, "revoke")
@click.argument("key_id")
def apikey_revoke(tenant: Tenant, key_id: str):
    """End a key at once: the next request with it is 401."""
    emit(apikeys.to_dict(apikeys.revoke(tenant, key_id)))


@tenant_command(apikey_group, "list")
def apikey_list(tenant: Tenant):
    emit({"keys": [apikeys.to_dict(row) for row in apikeys.keys_of(tenant)]})
