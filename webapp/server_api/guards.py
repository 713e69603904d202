"""What every server API request passes first, in this order: the API key (401 unauthorized),
the key's rate limit (429 rate_limited), its scope (403 forbidden_scope: a read key may only
GET), then for PUT and POST the body (413 payload_too_large, 415 unsupported_media_type, 400
invalid_json). Each request reads its key's row, so a revoked key is refused at once everywhere.
"""
from __future__ import annotations

from functools import wraps

from flask import current_app, g, request

from ..api_guards import rate_limited, read_json
from ..errors import api_error, refusal_json
from ..extensions import csrf, limiter
from ..refusals import Refused
from ..services import audit
from ..services.keys import apikeys
from . import bp

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
        return read_json(empty_ok=request.endpoint in NO_BODY)
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
    return rate_limited(rule, "server", key_id, "Too many requests for this API key: slow down and retry later.")


@bp.after_request
def _no_store(response):
    response.headers["Cache-Control"] = "no-store"
    return response
