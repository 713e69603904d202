"""Settings → Identity health (owners and admins): identifications by kind, refusals by code, the
share of verified traffic and per-key usage over 24 hours, 7 or 30 days, from the coalesced
counters (services/keys/health.py), drawn as inline SVG with a table of the same numbers."""
from __future__ import annotations

import secrets
import time

from flask import abort, make_response, render_template, request

from ...infra.security import CSP
from ...services.keys import health
from .. import bp
from ..access import current_workspace
from . import charts


def csp_with_style_nonce(nonce: str) -> str:
    """The site's CSP, letting through the one <style> per chart that carries this response's nonce."""
    return CSP.replace("style-src 'self'", f"style-src 'self' 'nonce-{nonce}'", 1)


@bp.route("/settings/health")
def settings_health():
    window = request.args.get("window", "7d")
    if window not in health.WINDOWS:
        abort(400, "window must be 24h, 7d or 30d.")
    tenant = current_workspace()
    report = health.report(tenant.id, window)
    nonce = secrets.token_urlsafe(16)
    response = make_response(render_template(
        "dashboard/settings/health.html", report=report, charts=_charts(report, nonce), windows=list(health.WINDOWS),
        rollout=health.rollout(tenant.id), per=_per(report), kind_rows=[(label, n) for _, label, n in report["kinds"]],
        share_rows=[(label, v, a, _percent(health.share(v, a))) for label, v, a in report["days"]]))
    response.headers["Content-Security-Policy"] = csp_with_style_nonce(nonce)
    return response


def key_usage_shown(tenant, kids: list[str]) -> dict[str, dict]:
    """{kid: {"day": verifications in 24 h, "last_used": datetime | None, "ago": "3 minutes ago"}}."""
    found = health.key_usage(tenant.id, kids)
    for entry in found.values():
        entry["ago"] = ago(entry["last_used"])
    return found


def ago(when, now: float | None = None) -> str:
    """"never", "just now", "3 minutes ago", "5 hours ago", "2 days ago"."""
    if when is None:
        return "never"
    seconds = max(0, int((time.time() if now is None else now) - when.timestamp()))
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'' if n == 1 else 's'} ago"
    return "just now"


def _per(report: dict) -> str:
    return "hour" if report["window"] == "24h" else "day"


def _percent(share: float | None) -> str:
    return "—" if share is None else f"{share:g}%"


def _charts(report: dict, nonce: str) -> dict:
    per = _per(report)
    return {
        "kinds": charts.bars("Identifications by kind", [(label, n) for _, label, n in report["kinds"]], nonce),
        "refusals": charts.bars("Refusals by code", report["refusals"], nonce) if report["refusals"] else None,
        "share": charts.share_line(f"Verified share of identifications per {per} (%)",
                                   [(label, health.share(v, a)) for label, v, a in report["days"]], nonce),
        "per_key": charts.bars("Verifications per key", report["per_key"], nonce) if report["per_key"] else None,
    }
