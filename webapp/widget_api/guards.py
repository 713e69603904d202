"""What every widget request passes first, in the contract's order (API.md §3):
unknown_tenant, origin_not_allowed, rate_limited, payload_too_large, unsupported_media_type,
invalid_json. Then CORS headers on the way out: an allowed origin echoed exactly, always Vary.

set-user reads its body first (its refusal still answered in that order) to read the user it
names together with the tenant: one read, where the tenant then the user were two round trips.
"""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from ..api_guards import rate_limited, read_json
from ..errors import api_error
from ..extensions import csrf, limiter
from ..identity.errors import FieldRefused
from ..identity.fields import check_id
from ..services.keys import origin_refusals, tokens
from ..services.end_users import sessions, snapshots
from ..services.end_users.snapshots import TenantInfo
from . import bp

ALLOWED_HEADERS = "Content-Type, X-Signet-Visitor, Authorization, Idempotency-Key"

csrf.exempt(bp)  # bearer tokens, never cookies: there is no ambient credential to forge
limiter.exempt(bp)  # limited below, after the tenant and origin checks the contract puts first


@bp.url_value_preprocessor
def _pop_tenant(endpoint, values):
    g.tenant_public_id = (values or {}).pop("tenant_id", None)


@bp.before_request
def guard():
    # The request and g looked up once each (every proxy access resolves the context again).
    req, ctx = request._get_current_object(), g._get_current_object()
    set_user = req.endpoint == "widget_api.set_user" and req.method == "POST"
    body_refused = read_json(empty_ok=False) if set_user else None  # answered in its turn, below
    named = _named_user(ctx.body, req) if set_user and body_refused is None else None
    if named is not None:  # the user it names read with the tenant: one read where two were
        tenant, ctx.read_ahead = snapshots.tenant_and_user(ctx.tenant_public_id, *named)
    else:
        tenant, ctx.read_ahead = snapshots.tenant(ctx.tenant_public_id), None
    ctx.tenant_info = tenant
    if tenant is None:
        return api_error(404, "unknown_tenant", "No such tenant: check data-tenant in your snippet.")
    origin = req.headers.get("Origin")
    ctx.origin = origin
    if origin is not None:
        ctx.origin_allowed = origin_allowed(tenant, origin)  # the answer's CORS headers reuse it
        if not ctx.origin_allowed:
            # The browser hides this answer from the page: the dashboard shows it (bounded).
            origin_refusals.record(tenant, origin, req.method, req.path)
            return api_error(403, "origin_not_allowed", f"The origin {origin[:200]} is not in this workspace's allowed origins.")
    if req.method == "OPTIONS":
        return current_app.response_class(status=204)
    limited = _rate_limit()
    if limited is not None:
        return limited
    if set_user:
        return body_refused
    if req.method == "POST":
        return read_json(empty_ok=req.endpoint == "widget_api.logout")  # logout needs no body
    return None


def _named_user(body: dict, req) -> tuple[str, str | None] | None:
    """(external id, visitor id) of the user a set-user body names, as identify.identify_with
    will look them up: the id of unsigned data, or the user of a token this process verified
    lately (a guess: the token is verified before anything uses the read). None: read none ahead."""
    if "jwt" in body:
        external_id = tokens.recent_user_id(body["jwt"])  # from claims the field rules passed
    elif body.get("id") is not None:
        try:  # the field rules' own id (a number is its string), or none read ahead: the view refuses it
            external_id = check_id(body["id"], "id")
        except FieldRefused:
            return None
    else:
        return None
    if not isinstance(external_id, str):
        return None
    return external_id, sessions.check_visitor_id(req.headers.get("X-Signet-Visitor"))


def origin_allowed(tenant: TenantInfo, origin: str) -> bool:
    """Exact match with the tenant's list (empty = any); Signet's own origin always; never `null`."""
    if origin == "null" or not origin.startswith(("http://", "https://")):
        return False
    allowed = tenant.allowed_origins
    return not allowed or origin in allowed or _is_own_origin(origin)


def _is_own_origin(origin: str) -> bool:
    """Signet's own origin: SIGNET_PUBLIC_URL's, or this request's host when Werkzeug checked it
    against TRUSTED_HOSTS; never the origin of a `Host` nobody checked (DNS rebinding)."""
    configured = current_app.config.get("SIGNET_PUBLIC_URL")
    if configured:
        base = urlsplit(configured)
        if origin == f"{base.scheme}://{base.netloc}":
            return True
    return bool(current_app.config.get("TRUSTED_HOSTS")) and origin == request.host_url.rstrip("/")


def _rate_limit():
    rule = current_app.config.get("SIGNET_RATELIMIT")
    if not rule:
        return None
    return rate_limited(rule, "widget", get_remote_address() or "unknown",
                        "Too many requests: slow down and retry later.")


@bp.after_request
def cors(response):
    response.headers.add("Vary", "Origin")
    ctx = g._get_current_object()
    origin = ctx.get("origin")
    if origin and ctx.get("tenant_info") is not None and ctx.get("origin_allowed"):  # decided by guard()
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Access-Control-Expose-Headers"] = "Retry-After, Idempotent-Replayed"
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = "GET, POST, OPTIONS"
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
    response.headers["Cache-Control"] = "no-store"
    return response
