"""What every server API request passes first, in this order: the API key (401 unauthorized),
the key's rate limit (429 rate_limited), its scope (403 forbidden_scope: a read key may only
GET), then for PUT and POST the body (413 payload_too_large, 415 unsupported_media_type, 400
invalid_json). Each request reads its key's row, so a revoked key is refused at once everywhere.
"""
from __future__ import annotations

import time
from functools import wraps

from flask import current_app, g, request
from limits import parse

from ..errors import api_error, refusal_json
from ..extensions import csrf, limiter
from ..identity.jose import strict_json
from ..infra.ratelimit import STORE_DOWN, store_down
from ..refusals import Refused
from ..services import audit
from ..services.keys import apikeys
from . import bp

MAX_BODY = 64 * 1024
NO_BODY = ("server_api.close_conversation", "server_api.reopen_conversation")  # an empty body is fine

csrf.exempt(bp)  # an API key in a header, never a cookie: nothing ambient to forge
limiter.exempt(bp)  # limited below, per key, after the key is known


@bp.before_request
def guard():
    scheme, _, key = request.headers.get("Authorization", "").partition(" ")
    g.caller = apikeys.authenticate(key.strip()) if scheme.lower() == "bearer" else None
    if g.caller is None:
        return api_error(401, "unauthorized", "Send Authorization: Bearer <API key> with a live key of this"
                                              " workspace (Settings → API keys).")
    limited = _rate_limit(g.caller.public_id)
    if limited is not None:
        return limited
    if request.method not in ("GET", "HEAD") and not g.caller.may_write:
        return api_error(403, "forbidden_scope", "This API key is read-only: use a key with the write scope.")
    if request.method in ("PUT", "POST"):
        return _read_json()
    return None


@bp.errorhandler(Refused)
def _refused(error: Refused):
    return refusal_json(error)


def endpoint(method: str, rule: str):
    """Register a server API view for `method` on `rule`, run with the audit log's actor set to
    this API key ("api key <name>"). The view returns its JSON object (Flask serializes it), or
    (object, status)."""

    def register(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            with audit.acting_as(f"api key {g.caller.name}"):
                return view(*args, **kwargs)

        return bp.route(rule, methods=[method])(wrapper)

    return register


def _rate_limit(key_id: str):
    rule = current_app.config.get("SIGNET_SERVER_RATELIMIT")
    if not rule:
        return None
    cache = current_app.extensions.setdefault("signet_server_limit", {})
    item = cache.get(rule) or cache.setdefault(rule, parse(rule))
    strategy = limiter.limiter
    try:
        if strategy.hit(item, "server", key_id):
            return None
        reset, _remaining = strategy.get_window_stats(item, "server", key_id)
    except STORE_DOWN as error:
        if store_down(error):
            return None
        return api_error(503, "service_unavailable", "Rate limiting is unavailable: retry shortly.",
                         headers={"Retry-After": "5"})
    return api_error(429, "rate_limited", "Too many requests for this API key: slow down and retry later.",
                     headers={"Retry-After": str(max(1, int(reset - time.time())))})


def _read_json():
    if (request.content_length or 0) > MAX_BODY:
        return api_error(413, "payload_too_large", "The body is over 64 KiB.")
    try:
        raw = request.stream.read(MAX_BODY + 1)
    except Exception:  # noqa: BLE001  a malformed or cut-short body: the client's error
        return api_error(400, "invalid_json", "The body could not be read.")
    if len(raw) > MAX_BODY:
        return api_error(413, "payload_too_large", "The body is over 64 KiB.")
    if not raw and request.endpoint in NO_BODY:
        g.body = {}
        return None
    if request.mimetype != "application/json":
        return api_error(415, "unsupported_media_type", "Send Content-Type: application/json.")
    try:
        body = strict_json(raw) if raw else None
    except ValueError:
        body = None
    if not isinstance(body, dict):
        return api_error(400, "invalid_json", "The body must be a JSON object.")
    g.body = body
    return None


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response
