"""Security headers and cookie flags for every response; the cookie-session hooks kept off the JSON API."""
from __future__ import annotations

from contextlib import contextmanager
from functools import wraps

from flask import Flask, Response, abort, request
from flask.sessions import SecureCookieSessionInterface
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

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
        if is_api():
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = SessionInterface()
    proxies = app.config.get("SIGNET_PROXY_COUNT", 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies, x_port=proxies)
    app.after_request(_headers)
    app.before_request(_refuse_nul)
    app.url_map.converters["id"] = RowId


class RowId(IntegerConverter):
    """`<id:name>`: a row id, a whole number that fits a 64-bit column (a larger one is a 404,
    not an overflow in the database driver)."""

    def __init__(self, url_map, *args, **kwargs):
        super().__init__(url_map, min=1, max=2**63 - 1)


def _refuse_nul():
    """No id, slug, cursor or search contains U+0000, and PostgreSQL refuses it in any text: a
    URL with one matches nothing (404), before any view passes it to a query."""
    req = request._get_current_object()
    if "\x00" in req.path or b"%00" in req.query_string.lower():
        if is_api():
            from ..errors import api_error

            return api_error(404, "not_found", "Nothing here has a U+0000 character in its address.")
        abort(404)
    return None


def is_api() -> bool:
    """Whether this request is for the JSON API (bearer tokens, no cookie session)."""
    return request.path.startswith("/api/")


@contextmanager
def pages_only(app: Flask):
    """The request hooks that extensions register inside this block run for the pages, not /api/.

    They serve the cookie session (CSRF, the remember-me cookie, Flask-Limiter's decorated
    limits and their headers), and the JSON API has none: its session is null (above), its
    credentials are bearer tokens, and it applies SIGNET_RATELIMIT itself in the contract's
    order. They are taken out of Flask's lists and run, in Flask's order, by one hook per phase
    that an API request leaves at once (measured: each wrapped hook cost the widget's hot path
    a call and a path check).
    """
    phases = (app.before_request_funcs, app.after_request_funcs, app.teardown_request_funcs)
    hooks = [funcs.setdefault(None, []) for funcs in phases]
    marks = [len(funcs) for funcs in hooks]
    yield
    before, after, teardown = (funcs[mark:] for funcs, mark in zip(hooks, marks))
    for funcs, mark in zip(hooks, marks):
        del funcs[mark:]
    if before:
        hooks[0].append(_pages_before(app, before))
    if after:
        hooks[1].append(_pages_after(app, after))
    if teardown:
        hooks[2].append(_pages_teardown(app, teardown))


def _pages_before(app: Flask, hooks: list):
    def pages_before():
        if is_api():
            return None
        for hook in hooks:
            answer = app.ensure_sync(hook)()
            if answer is not None:
                return answer
        return None
    return pages_before


def _pages_after(app: Flask, hooks: list):
    def pages_after(response):
        if is_api():
            return response
        for hook in reversed(hooks):  # Flask runs after-request hooks last registered first
            response = app.ensure_sync(hook)(response)
        return response
    return pages_after


def _pages_teardown(app: Flask, hooks: list):
    def pages_teardown(error):
        if is_api():
            return
        for hook in reversed(hooks):  # as Flask does
            app.ensure_sync(hook)(error)
    return pages_teardown


# Pages whose URL holds a one-time token, or that a token page sends the browser to (the login
# page after an invitation): no Referer at all leaves them, not even to this site's own assets,
# whose requests gunicorn's access log prints with their Referer.
NO_REFERRER_PREFIXES = ("/login", "/invitations/", "/account/verify/", "/password/reset/")


def _headers(response: Response) -> Response:
    headers = response.headers
    if "X-Content-Type-Options" not in headers:  # (Headers.setdefault raises and catches a KeyError)
        headers.add("X-Content-Type-Options", "nosniff")  # (absent: added, not searched for again)
    if _holds_a_token(request._get_current_object()):  # (one context lookup: every response comes here)
        headers["Referrer-Policy"] = "no-referrer"  # whatever the view or error page set
    if _is_html(response):
        headers.setdefault("Content-Security-Policy", CSP)
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Cache-Control", "no-store")
    return response


def csrf_without_referrer(view):
    """For a view whose form is on a page that sends `Referrer-Policy: no-referrer` (the token
    pages, /login): over https Flask-WTF's global check also demands a same-origin Referer, which
    those pages withhold by design, so it would refuse every such POST. The view is exempt from
    the global check and runs the same session-bound token check itself, without the Referer
    rule (as the hosted blueprint does); a missing or wrong token is the same 400."""
    from flask import current_app, g
    from flask_wtf.csrf import CSRFError, validate_csrf
    from wtforms import ValidationError

    from ..extensions import csrf

    @wraps(view)
    def checked(*args, **kwargs):
        if request.method in current_app.config["WTF_CSRF_METHODS"]:
            token = request.form.get(current_app.config["WTF_CSRF_FIELD_NAME"]) or request.headers.get("X-CSRFToken")
            try:
                validate_csrf(token)
            except ValidationError as error:
                raise CSRFError(error.args[0]) from None
            g.csrf_valid = True
        return view(*args, **kwargs)

    csrf.exempt(checked)
    return checked


def _holds_a_token(req) -> bool:
    """Whether the request's URL held a one-time token (the log middleware took it out), or is
    one of the pages in NO_REFERRER_PREFIXES (any status: error pages load assets too)."""
    return _EMAIL_TOKEN_KEY in req.environ or req.path.startswith(NO_REFERRER_PREFIXES)


# hosted/logsafe.py's EMAIL_TOKEN_KEY (the hosted package imports its views, which import this module)
_EMAIL_TOKEN_KEY = "signet.email_token"


def _is_html(response: Response) -> bool:
    """`response.mimetype == "text/html"` without parsing the header's parameters each time."""
    return (response.content_type or "").partition(";")[0].strip().lower() == "text/html"
