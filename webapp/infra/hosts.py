"""Where Signet is reached from outside: the base of every link it shows or mails, and which
`Host` headers it answers (API.md §9 "Absolute URLs", docs/SECURITY.md).

A link built from the request's `Host` points wherever the sender of the request says, so a
forged `Host: evil.example` would mail a victim a sign-in link to the attacker's server. Rule:

- `SIGNET_PUBLIC_URL` set: every absolute link uses it, whatever the request's host.
- else links use the request's host, which Werkzeug has checked against `TRUSTED_HOSTS`
  (`SIGNET_TRUSTED_HOSTS`): any other host is answered 400 before a view runs.
- neither set: `TRUSTED_HOSTS` becomes the loopback names only (a development default), so a
  deployment that forgot both refuses outside hosts instead of mailing their links.

An entry with a port (`chat.example.com:8443`) also pins the port (Werkzeug compares names only).
"""
from __future__ import annotations

import functools

from flask import Flask, current_app, request
from werkzeug.exceptions import SecurityError

LOOPBACK = ["localhost", "127.0.0.1"]
REFUSED = ("This server does not answer for this host name. Its operator can add the name to "
           "SIGNET_TRUSTED_HOSTS or set SIGNET_PUBLIC_URL.")


def init_app(app: Flask) -> None:
    if not app.config.get("TRUSTED_HOSTS") and not app.config.get("SIGNET_PUBLIC_URL"):
        app.config["TRUSTED_HOSTS"] = list(LOOPBACK)
    # First of all request hooks: an untrusted host reaches no other hook and no view.
    app.before_request_funcs.setdefault(None, []).insert(0, _check_host)
    app.register_error_handler(SecurityError, lambda error: _refused())


def public_base() -> str:
    """SIGNET_PUBLIC_URL when set (production: behind a proxy), else this request's own host,
    which is trusted: Werkzeug refused the request otherwise (see the module docstring)."""
    configured = current_app.config.get("SIGNET_PUBLIC_URL")
    if configured:
        return configured
    if not current_app.config.get("TRUSTED_HOSTS"):  # init_app never leaves it so
        raise RuntimeError("no SIGNET_PUBLIC_URL and no trusted hosts: refusing to build a link from Host")
    return request.host_url.rstrip("/")


def _check_host():
    req = request._get_current_object()  # one context lookup, not one per attribute (every request)
    if isinstance(req.routing_exception, SecurityError):
        return _refused()
    trusted = current_app.config.get("TRUSTED_HOSTS")
    if trusted and not _port_allowed_cached(req.host, req.scheme, tuple(trusted)):
        return _refused()
    return None


@functools.lru_cache(maxsize=256)
def _port_allowed_cached(host: str, scheme: str, trusted: tuple[str, ...]) -> bool:
    """port_allowed, remembered: every request asks it, for the same few hosts."""
    return port_allowed(host, scheme, trusted)


def port_allowed(host: str, scheme: str, trusted: list[str] | tuple[str, ...] | None) -> bool:
    """Whether `host` (name[:port], already name-checked by Werkzeug) matches an entry that
    allows its port: an entry without a port allows any, one with a port only that port."""
    if not trusted:
        return True
    name, _, port = host.lower().rpartition(":") if ":" in host else (host.lower(), "", "")
    port = port or ("443" if scheme == "https" else "80")
    for entry in trusted:
        entry_name, _, entry_port = entry.lower().partition(":")
        if entry_name.startswith("."):
            matches = name.endswith(entry_name) or name == entry_name[1:]
        else:
            matches = name == entry_name
        if matches and (not entry_port or entry_port == port):
            return True
    return False


def _refused():
    """400, readable, without url_for (no URL adapter exists for an untrusted host) and
    without echoing the host."""
    from ..errors import api_error, wants_json

    if wants_json():
        return api_error(400, "untrusted_host", REFUSED)
    html = ("<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Bad request</title></head>"
            f"<body><h1>Unknown host</h1><p>{REFUSED}</p></body></html>")
    return html, 400, {"Content-Type": "text/html; charset=utf-8"}
