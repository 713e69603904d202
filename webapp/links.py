"""Where Signet is reached from outside: the base of every link it shows or mails."""
from __future__ import annotations

from flask import current_app, request


def public_base() -> str:
    """SIGNET_PUBLIC_URL when set (production: behind a proxy), else this request's own host."""
    return current_app.config.get("SIGNET_PUBLIC_URL") or request.host_url.rstrip("/")
