"""What every widget request passes first, in the contract's order (API.md §3):
unknown_tenant, origin_not_allowed, rate_limited, payload_too_large, unsupported_media_type,
invalid_json. Then CORS headers on the way out: an allowed origin echoed exactly, always Vary.
"""
from __future__ import annotations

import time
from urllib.parse import urlsplit

from flask import current_app, g, request
from flask_limiter.util import get_remote_address
from limits import parse
from werkzeug.exceptions import ClientDisconnected, HTTPException

from ..errors import api_error
from ..extensions import csrf, limiter
from ..identity.jose import strict_json
from ..infra.ratelimit import STORE_DOWN, store_down
from ..services.keys import origin_refusals
from ..services.end_users import snapshots
from ..services.end_users.snapshots import TenantInfo
from . import bp

MAX_BODY = 64 * 1024
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
    ctx.tenant_info = tenant = snapshots.tenant(ctx.tenant_public_id)
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
    if req.method == "POST":
        return _read_json()
    return None


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
    item = _parsed(rule)
    address = get_remote_address() or "unknown"
    strategy = limiter.limiter
    try:
        if strategy.hit(item, "widget", address):
            return None
        reset, _remaining = strategy.get_window_stats(item, "widget", address)
    except STORE_DOWN as error:
        if store_down(error):
            return None
        return api_error(503, "service_unavailable", "Rate limiting is unavailable: retry shortly.",
                         headers={"Retry-After": "5"})
    retry = str(max(1, int(reset - time.time())))
    return api_error(429, "rate_limited", "Too many requests: slow down and retry later.", headers={"Retry-After": retry})


def _parsed(rule: str):
    cache = current_app.extensions.setdefault("signet_widget_limit", {})
    if rule not in cache:
        cache[rule] = parse(rule)
    return cache[rule]


def _read_json():
    length = request.content_length
    if (length or 0) > MAX_BODY:
        return api_error(413, "payload_too_large", "The body is over 64 KiB.")
    # The declared length exactly; without one (chunked), up to one byte past the limit.
    raw = _read_body(MAX_BODY + 1 if length is None else length)
    if raw is None:
        return api_error(400, "invalid_json", "The body could not be read (malformed chunked encoding, or cut short).")
    if len(raw) > MAX_BODY:
        return api_error(413, "payload_too_large", "The body is over 64 KiB.")
    if not raw and request.endpoint == "widget_api.logout":
        g.body = {}  # logout needs no body; an empty one is not an error
        return None
    if request.mimetype != "application/json":
        return api_error(415, "unsupported_media_type", "Send Content-Type: application/json.")
    try:
        body = strict_json(raw) if raw else None  # the same strict JSON as tokens: no duplicate keys, NaN, lone surrogates
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return api_error(400, "invalid_json", "The body must be a JSON object.")
    g.body = body
    return None


def _read_body(size: int) -> bytes | None:
    """Up to `size` bytes of the body, or None when the server could not read it: a malformed
    chunked encoding (the server's InvalidChunkSize and kin), a client gone or cut short
    (ClientDisconnected, NoMoreData, a read timeout). A bad body is the client's error: 400."""
    try:
        return request.stream.read(size)
    except ClientDisconnected:
        return None
    except HTTPException:
        raise  # 413 from the content-length limit keeps its own answer
    except Exception:  # noqa: BLE001  each server has its own body-reader errors; all mean "unreadable"
        return None


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
