"""One shape for errors: JSON for the API, a readable page for people."""
from __future__ import annotations

from flask import Flask, jsonify, render_template, request
from flask_limiter.errors import RateLimitExceeded
from flask_wtf.csrf import CSRFError
from limits.errors import StorageError
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError, OperationalError
from werkzeug.exceptions import HTTPException

from .infra.ratelimit import store_down
from .refusals import Conflict, Forbidden, Gone, Invalid, NotFound, Refused, Unauthorized
from .infra.security import is_api

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Method not allowed",
    413: "Too large",
    429: "Too many attempts",
    500: "Something went wrong",
    503: "Temporarily unavailable",
}


STATUS_OF: dict[type[Refused], int] = {
    Invalid: 400, Unauthorized: 401, Forbidden: 403, NotFound: 404, Conflict: 409, Gone: 410,
}


def http_status(error: Refused) -> int:
    """The one place an HTTP face (widget API, hosted pages, staff link pages) turns a refusal
    into a status: by the nearest family class in its MRO (a bare Refused is 400)."""
    for cls in type(error).__mro__:
        if cls in STATUS_OF:
            return STATUS_OF[cls]
    return 400


def refusal_json(error: Refused):
    """A refusal in the contract's error body, with its status."""
    return api_error(http_status(error), error.code, error.message, error.field)


def api_error(status: int, code: str, message: str, field: str | None = None, headers: dict | None = None):
    """The contract's error body: {"error": {"code", "message", "field"?}}."""
    body: dict = {"code": code, "message": message}
    if field is not None:
        body["field"] = field
    response = jsonify({"error": body})
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def wants_json() -> bool:
    return is_api() or request.path == "/healthz"


def page_error(status: int, message: str | None = None, headers: dict | None = None):
    html = render_template("errors/error.html", status=status, title=TITLES.get(status, "Error"), message=message)
    return html, status, headers or {}


def init_app(app: Flask) -> None:
    @app.errorhandler(CSRFError)
    def _csrf(error: CSRFError):
        return page_error(400, "The form expired or was not sent from this site. Go back, reload and try again.")

    @app.errorhandler(RateLimitExceeded)
    def _rate_limited(error: RateLimitExceeded):
        retry = str(_retry_after())
        if wants_json():
            return api_error(429, "rate_limited", "Too many requests: try again later.", headers={"Retry-After": retry})
        return page_error(429, "Too many attempts. Wait a few minutes and try again.", {"Retry-After": retry})

    @app.errorhandler(HTTPException)
    def _http(error: HTTPException):
        if wants_json():
            code = {404: "not_found", 405: "method_not_allowed", 413: "payload_too_large"}.get(error.code, "error")
            return api_error(error.code or 500, code, error.description or "")
        return page_error(error.code or 500, error.description if error.code in (400, 403) else None)

    @app.errorhandler(StorageError)
    @app.errorhandler(RedisError)
    def _rate_store_down(error: Exception):
        """The login throttle's store is down and SIGNET_RATELIMIT_FAIL is closed (open never raises)."""
        store_down(error)
        if wants_json():
            return api_error(503, "service_unavailable", "Rate limiting is unavailable: retry shortly.",
                             headers={"Retry-After": "5"})
        return page_error(503, "Signing in is briefly unavailable. Try again in a moment.", {"Retry-After": "5"})

    @app.errorhandler(OperationalError)
    def _database_down(error: DBAPIError):
        """The database is unreachable (stopped, restarting, locked too long): say so, never a 500.
        A dropped connection is replaced (the pool pings one idle for 10 s, and a disconnect
        invalidates the pool's older connections), so service resumes by itself when it is back."""
        app.logger.warning("database unavailable: %s", error.orig.__class__.__name__ if error.orig else error)
        _discard_session()
        headers = {"Retry-After": "5"}
        if wants_json():
            return api_error(503, "service_unavailable", "Signet's database is unavailable: retry shortly.", headers=headers)
        return page_error(503, "Signet cannot reach its database right now. Try again in a moment.", headers)

    @app.errorhandler(500)
    def _internal(error):
        if wants_json():
            return api_error(500, "internal_error", "An unexpected error happened.")
        return page_error(500)


def _discard_session() -> None:
    from .extensions import db

    try:
        db.session.rollback()
    except DBAPIError:
        db.session.invalidate()


def _retry_after() -> int:
    """Seconds until the breached limit's window resets (at least 1)."""
    import time

    from .extensions import limiter

    current = limiter.current_limit
    if current is None:
        return 60
    return max(1, int(current.reset_at - time.time()))
