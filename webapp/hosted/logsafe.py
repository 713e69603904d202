"""Keep the secrets that ride in hosted-page URLs out of every log (API.md §5, SECURITY-NOTES).

A login link carries `?externalAuthCode=<jwt>`; an email sign-in link carries its one-time
token in the path (`/m/<tenant>/email/<token>`). Access logs print the request from the WSGI
environ (gunicorn's `%(r)s` is RAW_URI, `%(q)s` QUERY_STRING, `%(U)s` PATH_INFO, read from the
same dict after the response), and Flask's error log prints `request.path`. So this middleware,
the outermost layer of the app, moves each secret into its own environ key before anything
else runs, and rewrites QUERY_STRING, PATH_INFO, RAW_URI and REQUEST_URI without it:

- every query parameter named `externalAuthCode` (any letter case, percent-encoded or not) is
  removed; the value of the first exactly-named one goes to `environ[AUTH_CODE_KEY]`;
- the token segment of `/m/<tenant>/email/<token>` becomes `redacted`; the token goes to
  `environ[EMAIL_TOKEN_KEY]`.

Views read the secrets from those keys only. Werkzeug's development server (`flask run`) logs
its own request line before the app sees the environ, so it would still print them; `make run`
and production use gunicorn, whose access log goes through this middleware.
"""
from __future__ import annotations

import re
from urllib.parse import unquote_plus

AUTH_CODE_KEY = "signet.external_auth_code"
EMAIL_TOKEN_KEY = "signet.email_token"
REDACTED = "redacted"
CODE_PARAM = "externalAuthCode"

_EMAIL_PATH = re.compile(r"^(/m/[^/]+/email/)([^/]+)")
_EMAIL_IN_URI = re.compile(r"(/m/[^/?#]+/email/)[^/?#]+")
_RAW_URL_KEYS = ("RAW_URI", "REQUEST_URI")


class LogSafeUrls:
    """WSGI middleware: see the module docstring."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        scrub(environ)
        return self.app(environ, start_response)


def scrub(environ: dict) -> None:
    """Move URL secrets out of `environ`'s URL keys, in place (loggers read the same dict)."""
    query = environ.get("QUERY_STRING") or ""
    if query:
        code, kept = _split_code(query)
        if kept is not None:
            environ["QUERY_STRING"] = kept
            if code is not None:
                environ[AUTH_CODE_KEY] = code
            for key in _RAW_URL_KEYS:
                if environ.get(key):
                    environ[key] = _with_query(environ[key], kept)
    path = environ.get("PATH_INFO") or ""
    match = _EMAIL_PATH.match(path)
    if match and match.group(2) != REDACTED:
        environ[EMAIL_TOKEN_KEY] = match.group(2)
        environ["PATH_INFO"] = match.group(1) + REDACTED + path[match.end():]
        for key in _RAW_URL_KEYS:
            if environ.get(key):
                environ[key] = _EMAIL_IN_URI.sub(lambda m: m.group(1) + REDACTED, environ[key], count=1)


def _split_code(query: str) -> tuple[str | None, str | None]:
    """(the code, the query without any code parameter), or (None, None) when it has none."""
    kept, code, removed = [], None, False
    for piece in query.split("&"):
        name, _, value = piece.partition("=")
        decoded = unquote_plus(name)
        if decoded.lower() == CODE_PARAM.lower():
            removed = True
            if code is None and decoded == CODE_PARAM:
                code = unquote_plus(value)
            continue
        kept.append(piece)
    return (code, "&".join(kept)) if removed else (None, None)


def _with_query(uri: str, query: str) -> str:
    base = uri.split("?", 1)[0]
    return f"{base}?{query}" if query else base
