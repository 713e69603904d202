"""Settings → Audit log (owners and admins: access.py refuses agents on every /settings/ path):
who changed what, when and from where, newest first, filtered by action, actor and a start
time, paged by cursor (dashboard/paging.py)."""
from __future__ import annotations

from datetime import datetime

from flask import render_template, request

from ...models import AuditEntry
from ...services import audit_log
from ...services.errors import Invalid
from .. import bp, paging
from ..access import current_workspace

ORDER = paging.Order((AuditEntry.at, AuditEntry.id), True, lambda e: (e.at, e.id), (datetime, int))


@bp.route("/settings/audit")
def settings_audit():
    workspace = current_workspace()
    args = {name: request.args.get(name, "")[:254] for name in ("action", "actor", "since")}
    error = None
    try:
        since = audit_log.parse_since(args["since"])
    except Invalid as refused:
        since, error = None, refused.message
    filters = audit_log.Filters(action=args["action"], actor=args["actor"], since=since)
    page = paging.fetch(audit_log.statement(workspace.id, filters), ORDER, paging.Position.from_args(request.args),
                        AuditEntry.id)
    return render_template("dashboard/settings/audit.html", page=page, args=args, error=error,
                           actions=audit_log.actions(workspace.id),
                           retention=audit_log.retention().days), (400 if error else 200)
