"""`signet audit TENANT_ID [--since ISO8601]`: the workspace's audit log, oldest first, one JSON
object per line (at, actor, action, target, address, and before/after when recorded)."""
from __future__ import annotations

import click

from ..cli import emit, signet, tenant_command
from ..models import Tenant
from ..services import audit_log


@tenant_command(signet, "audit")
@click.option("--since", help="Only entries at or after this ISO 8601 date or time (UTC unless it names a zone).")
def audit_command(tenant: Tenant, since: str | None):
    """Print the workspace's audit log (bounded by SIGNET_AUDIT_RETENTION_DAYS, enforced by `signet prune`)."""
    for entry in audit_log.since(tenant.id, audit_log.parse_since(since)):
        emit(audit_log.as_json(entry))
