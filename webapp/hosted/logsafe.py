"""Keep the secrets that ride in hosted-page URLs out of every log (API.md §5, SECURITY-NOTES).

A login link carries `?externalAuthCode=<jwt>`; an email sign-in link carries its one-time
token in the path (`/m/<tenant>/email/<token>`). Access logs print the request from the WSGI
environ (gunicorn's `%(r)s` is RAW_URI, `%(q)s` QUERY_STRING, `%(U)s` PATH_INFO, read from the
same dict after the response), and Flask's error log prints `request.path`. So this middleware,
the outermost layer of the app, moves each secret into its own environ key before anything
else runs, and rewrites QUERY_STRING, PATH_INFO, RAW_URI and REQUEST_URI without it:

- every query parameter named `externalAuthCode` (any letter case, percent-encoded or not) is
  removed; the value of the first exactly-named one goes to `environ[AUTH_CODE_KEY]`;
- the token segment of `/m/<tenant>/email/<token>` (and of the other one-time-link paths in
  TOKEN_PATHS) becomes `redacted`; the token goes to `environ[EMAIL_TOKEN_KEY]`, and
  `restore_token` hands it to the view as its `token` argument. The match is made on the normalised path (slashes merged, "." and
  ".." resolved, names in any letter case, after the server's percent-decoding), so
  `//m/…`, `/m//…`, `/m/t/./email/…` or `/m/t%2Femail/…` are caught too, and PATH_INFO becomes
  that normalised, redacted path (Werkzeug then never answers a 308 whose Location repeats it).
- a query value (or name) that holds one of those token paths anywhere (a login page's
  `next=/invitations/<token>`, a full URL, percent-encoded once or more, with `\\`, `//`, `.`
  or `..`, in any letter case) becomes `redacted`, and so does the path of a Referer header
  holding one (gunicorn's default access log prints the Referer);
- when anything was removed, RAW_URI and REQUEST_URI are rebuilt from the scrubbed PATH_INFO and
  QUERY_STRING rather than edited: no other spelling of the secret survives in them.

Views read the secrets from those keys only. Werkzeug's development server (`flask run`) logs
its own request line before the app sees the environ, so it would still print them; `make run`
and production use gunicorn, whose access log goes through this middleware.
"""
from __future__ import annotations

import re
import unicodedata
from urllib.parse import quote, unquote_plus, urlsplit

AUTH_CODE_KEY = "signet.external_auth_code"
EMAIL_TOKEN_KEY = "signet.email_token"  # the token of any TOKEN_PATHS path
REDACTED = "redacted"
CODE_PARAM = "externalAuthCode"

# Paths that carry a one-time token, as segments of the normalised path: "*" is any one
# segment, a Token the secret (also in longer paths: `/invitations/<token>/accept`). The staff
# links (sign-up confirmation, password reset, invitations) are as secret as a sign-in link;
# their tokens are 43 characters, and shorter segments there are other routes (`/resend`).
class Token:
    def __init__(self, min_length: int = 1):
        self.min_length = min_length


TOKEN, STAFF_TOKEN = Token(), Token(min_length=16)
TOKEN_PATHS: list[tuple] = [
    ("m", "*", "email", TOKEN),
    ("account", "verify", STAFF_TOKEN),
    ("password", "reset", STAFF_TOKEN),
    ("invitations", STAFF_TOKEN),
]
_FIRST_NAMES = frozenset(pattern[0] for pattern in TOKEN_PATHS)  # a token path's resolved first segment
_RAW_URL_KEYS = ("RAW_URI", "REQUEST_URI")
_SEPARATORS = re.compile(r"[/?#&=;]")
_DECODE_ROUNDS = 4  # `%252F` is `%2F` is `/`: decoded until stable, a few rounds at most
_PATH_SAFE = "/:@!$&'()*+,;=-._~"


class LogSafeUrls:
    """WSGI middleware: see the module docstring."""

    def __init__(self, app):
        self.app = app

    def __call__(self, environ, start_response):
        scrub(environ)
        return self.app(environ, start_response)


def scrub(environ: dict) -> None:
    """Move URL secrets out of `environ`'s URL keys, in place (loggers read the same dict)."""
    changed = False
    query = environ.get("QUERY_STRING") or ""
    if query:
        code, kept = _split_code(query)
        if kept is not None:
            environ["QUERY_STRING"], changed = kept, True
            if code is not None:
                environ[AUTH_CODE_KEY] = code
        kept = _redacted_query(environ["QUERY_STRING"])
        if kept is not None:
            environ["QUERY_STRING"], changed = kept, True
    path, token = _redacted_path(environ.get("PATH_INFO") or "")
    if path is not None:
        environ["PATH_INFO"], changed = path, True
        if token is not None:
            environ[EMAIL_TOKEN_KEY] = token
    referer = environ.get("HTTP_REFERER")
    if referer and _holds_token_path(referer):
        parts = urlsplit(referer)
        environ["HTTP_REFERER"] = f"{parts.scheme}://{parts.netloc}/{REDACTED}" if parts.netloc else REDACTED
    if changed:  # the raw request line is rebuilt from the scrubbed parts, however it was spelled
        query = environ.get("QUERY_STRING") or ""
        raw = quote(environ["PATH_INFO"].encode("latin-1", "replace"), safe=_PATH_SAFE) + (f"?{query}" if query else "")
        for key in _RAW_URL_KEYS:
            if key in environ:
                environ[key] = raw


def restore_token(endpoint: str | None, values: dict | None) -> None:
    """(An app-wide url_value_preprocessor) A view's `token` argument is the redacted path's
    `redacted`: hand it the real token, which only the environ holds."""
    if not values or values.get("token") != REDACTED:
        return  # every other request: no import, no context lookup
    from flask import request

    if EMAIL_TOKEN_KEY in request.environ:
        values["token"] = request.environ[EMAIL_TOKEN_KEY]


def _redacted_path(path: str) -> tuple[str | None, str | None]:
    """(the normalised path with every token segment `redacted`, the first token), or
    (None, None) when no spelling of this path carries a token.

    The path is walked segment by segment as a server resolves it: empty and "." segments
    dropped (`//m`, `/m//t`, `/./`), ".." pops one. Whenever the resolved prefix matches a
    TOKEN_PATHS pattern (names compared case-insensitively), the segment just added is a token.
    So `/m/t/email/<token>/..`, `/x/../m/t/email/<token>` and `/M/t/EMAIL/<token>` are caught,
    and a path Werkzeug would 308-redirect to its merged-slash form is served (or 404s) under
    its normalised form instead: no Location ever echoes a token.
    """
    segments = path.split("/")
    if not any(segment.lower() in _FIRST_NAMES for segment in segments):
        return None, None  # no segment could start a token path (every request pays this check only)
    stack: list[str] = []
    token, found = None, False
    for segment in _walk(segments, stack):
        if _is_token(stack):
            found = True
            if segment != REDACTED:
                token = token if token is not None else segment
            stack[-1] = REDACTED
    if not found:
        return None, None
    return "/" + "/".join(stack) + ("/" if path.endswith("/") and stack else ""), token


def _is_token(stack: list[str], anywhere: bool = False) -> bool:
    """Whether the last segment of `stack` (a resolved path prefix) is a token: `stack` is a
    token path, or (`anywhere`) ends with one."""
    for pattern in TOKEN_PATHS:
        if len(stack) < len(pattern) or (len(stack) > len(pattern) and not anywhere):
            continue
        tail = stack[len(stack) - len(pattern):]
        if len(tail[-1]) >= pattern[-1].min_length and all(
                part == "*" or isinstance(part, Token) or part == name.lower() for part, name in zip(pattern, tail)):
            return True
    return False


def _redacted_query(query: str) -> str | None:
    """The query with every value (or name) that holds a token path `redacted`, or None when
    none does."""
    kept, changed = [], False
    for piece in query.split("&"):
        name, equals, value = piece.partition("=")
        if _holds_token_path(name):
            piece, changed = REDACTED, True
        elif equals and _holds_token_path(value):
            piece, changed = f"{name}={REDACTED}", True
        kept.append(piece)
    return "&".join(kept) if changed else None


def _holds_token_path(text: str) -> bool:
    """Whether a token path appears anywhere in `text` (a query value, a Referer), however it
    is spelled: percent-decoded until stable, NFKC-normalised (full-width `／`), `\\` read as
    `/`, then walked like a path (empty and "." segments dropped, ".." popping one) with a
    match on any tail of the resolved prefix, so `https://host/x/../Invitations//<token>`
    counts too."""
    for _ in range(_DECODE_ROUNDS):
        decoded = unquote_plus(text)
        if decoded == text:
            break
        text = decoded
    text = unicodedata.normalize("NFKC", text).replace("\\", "/")
    stack: list[str] = []
    return any(_is_token(stack, anywhere=True) for _ in _walk(_SEPARATORS.split(text), stack))


def _walk(segments, stack: list[str]):
    """Resolve `segments` as a server resolves a path, into `stack`: empty and "." segments are
    dropped, ".." pops one; yields each segment as it is pushed (the caller reads or rewrites
    `stack[-1]`)."""
    for segment in segments:
        if segment in ("", "."):
            continue
        if segment == "..":
            if stack:
                stack.pop()
            continue
        stack.append(segment)
        yield segment


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
