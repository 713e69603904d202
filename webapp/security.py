"""Security headers and cookie flags for every response."""
from __future__ import annotations

from flask import Flask, Response, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'none'"
)


class SessionInterface(SecureCookieSessionInterface):
    """The dashboard cookie is Secure whenever the request came over https.

    The JSON API never uses the cookie session (bearer tokens only): it gets a null session, so
    no cookie is read or set there and responses do not vary on Cookie.
    """

    def get_cookie_secure(self, app: Flask) -> bool:
        return bool(app.config.get("SESSION_COOKIE_SECURE")) or request.is_secure

    def open_session(self, app: Flask, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    proxies = app.config.get("SIGNET_PROXY_COUNT", 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    app.after_request(_headers)
    _skip_limiter_hook_on_api(app)


def _skip_limiter_hook_on_api(app: Flask) -> None:
    """Flask-Limiter checks every request for decorated limits; the JSON API has none (it applies
    SIGNET_RATELIMIT itself, in the contract's order), so it skips that per-request work."""
    from .extensions import limiter

    hooks = app.before_request_funcs.setdefault(None, [])
    for index, hook in enumerate(hooks):
        if getattr(hook, "__self__", None) is limiter and hook.__name__ == "_check_request_limit":
            def check(original=hook):
                if request.path.startswith("/api/"):
                    return None
                return original()
            hooks[index] = check


def _headers(response: Response) -> Response:
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    if response.mimetype == "text/html":
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        response.headers.setdefault("Cache-Control", "no-store")
    return response
