"""Defaults plus the SIGNET_* environment (API.md §8). No secret lives in code."""
from __future__ import annotations

import os
import re
import secrets
from pathlib import Path


def _secret_key(instance: Path) -> str:
    """SIGNET_SECRET_KEY, or one generated once into instance/secret_key (mode 600) and reused."""
    from_env = os.environ.get("SIGNET_SECRET_KEY")
    if from_env:
        return from_env
    path = instance / "secret_key"
    if not path.exists():
        # O_EXCL: two processes starting together never write two different keys.
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
    return path.read_text().strip()


def _database_url(instance: Path) -> str:
    url = os.environ.get("SIGNET_DATABASE_URL") or f"sqlite:///{instance / 'signet.sqlite3'}"
    # Accept the plain postgres schemes people paste and use psycopg 3.
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _fail_mode(value: str) -> str:
    value = value.strip().lower()
    if value not in ("open", "closed"):
        raise ValueError(f"SIGNET_RATELIMIT_FAIL must be 'open' or 'closed', not {value!r}")
    return value


_HOST_ENTRY = re.compile(r"^\.?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:[0-9]{1,5})?$")


def trusted_hosts(value: str | None) -> list[str] | None:
    """SIGNET_TRUSTED_HOSTS: comma-separated host names (`chat.example.com`, `.example.com` for
    every subdomain, an optional `:port`), lowercased; None when unset. A malformed entry stops
    the start-up: a typo must not silently trust nothing or everything."""
    entries = [entry.strip().lower() for entry in (value or "").split(",") if entry.strip()]
    for entry in entries:
        port = entry.rpartition(":")[2] if ":" in entry else None
        if not _HOST_ENTRY.match(entry) or (port is not None and not 1 <= int(port) <= 65535):
            raise ValueError(f"SIGNET_TRUSTED_HOSTS: {entry!r} is not a host name with an optional :port "
                             "(IPv6 addresses are not supported: use a name)")
    return entries or None


def _off_or(value: str) -> str | None:
    value = value.strip()
    return None if value.lower() == "off" else value


def load_config(instance: Path) -> dict:
    """The app's configuration from the environment, with the contract's defaults."""
    ratelimit = os.environ.get("SIGNET_RATELIMIT", "120/minute").strip()
    return {
        "SECRET_KEY": _secret_key(instance),
        "SQLALCHEMY_DATABASE_URI": _database_url(instance),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        # PostgreSQL: a statement's time limit in seconds (server side, and client side while serving
        # a request, so a frozen server answers 503, not a hang); 0 turns both off (webapp/infra/pgbounds.py).
        "SIGNET_DATABASE_TIMEOUT": float(os.environ.get("SIGNET_DATABASE_TIMEOUT", "2")),
        "SIGNET_KEY_GRACE_SECONDS": int(os.environ.get("SIGNET_KEY_GRACE_SECONDS", "7200")),
        # Audit entries older than this are deleted by `signet prune` (issue 17; services/audit_log.py).
        "SIGNET_AUDIT_RETENTION_DAYS": max(1, int(os.environ.get("SIGNET_AUDIT_RETENTION_DAYS", "400"))),
        # How long a widget (and hosted page) session lasts; the widget renews it before the end.
        "SIGNET_WIDGET_SESSION_SECONDS": max(10, int(os.environ.get("SIGNET_WIDGET_SESSION_SECONDS", "86400"))),
        "SIGNET_RATELIMIT": None if ratelimit.lower() == "off" else ratelimit,
        # The server API's limit per API key (issue 13); "off" disables it.
        "SIGNET_SERVER_RATELIMIT": _off_or(os.environ.get("SIGNET_SERVER_RATELIMIT", "600/minute")),
        "RATELIMIT_STORAGE_URI": os.environ.get("SIGNET_RATELIMIT_STORAGE_URL", "memory://"),
        # When the rate-limit store (Redis) is down: "open" serves requests unthrottled, "closed"
        # answers 503 service_unavailable. Never a 500 either way.
        "SIGNET_RATELIMIT_FAIL": _fail_mode(os.environ.get("SIGNET_RATELIMIT_FAIL", "open")),
        "SIGNET_PUBLIC_URL": (os.environ.get("SIGNET_PUBLIC_URL") or "").rstrip("/") or None,
        # Werkzeug refuses (400) any other Host; with neither this nor SIGNET_PUBLIC_URL set,
        # links.init_app trusts loopback names only (API.md §9, docs/SECURITY.md).
        "TRUSTED_HOSTS": trusted_hosts(os.environ.get("SIGNET_TRUSTED_HOSTS")),
        "SIGNET_SMTP_URL": os.environ.get("SIGNET_SMTP_URL") or None,
        "SIGNET_MAIL_FROM": os.environ.get("SIGNET_MAIL_FROM") or None,
        "SIGNET_PROXY_COUNT": int(os.environ.get("SIGNET_PROXY_COUNT", "0")),
        # Key usage and identity health counters are written at most this often per process (0: only
        # at exit or by hand; webapp/services/keys/usage.py).
        "SIGNET_USAGE_FLUSH_SECONDS": float(os.environ.get("SIGNET_USAGE_FLUSH_SECONDS", "60")),
        # Outbound calls (JWKS, webhooks; webapp/infra/outbound.py) may use http:// and private,
        # loopback or link-local addresses only when the operator says so (tests, a JWKS on the LAN).
        "SIGNET_ALLOW_PRIVATE_URLS": os.environ.get("SIGNET_ALLOW_PRIVATE_URLS", "").strip().lower()
        in ("1", "true", "yes", "on"),
        # The webhook worker (webapp/services/webhooks/): retry delays are multiplied by the scale
        # (tests shrink them), a claim is a lease of this many seconds (a killed worker's claim
        # expires), an endpoint failing this long is disabled, final deliveries and their attempts
        # are kept this many days (`signet prune`), an idle worker polls the outbox this often.
        "SIGNET_WEBHOOK_BACKOFF_SCALE": float(os.environ.get("SIGNET_WEBHOOK_BACKOFF_SCALE", "1")),
        "SIGNET_WEBHOOK_LEASE_SECONDS": float(os.environ.get("SIGNET_WEBHOOK_LEASE_SECONDS", "60")),
        "SIGNET_WEBHOOK_DISABLE_AFTER": float(os.environ.get("SIGNET_WEBHOOK_DISABLE_AFTER", str(5 * 86400))),
        "SIGNET_WEBHOOK_RETENTION_DAYS": max(1, int(os.environ.get("SIGNET_WEBHOOK_RETENTION_DAYS", "30"))),
        "SIGNET_WORKER_POLL_SECONDS": float(os.environ.get("SIGNET_WORKER_POLL_SECONDS", "0.2")),
        "SESSION_COOKIE_NAME": "signet_session",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "PERMANENT_SESSION_LIFETIME": 60 * 60 * 12,
        "WTF_CSRF_TIME_LIMIT": None,  # tied to the session instead of a clock
        "RATELIMIT_HEADERS_ENABLED": False,
        # Flask-Limiter (the login throttle) swallows store errors when failing open; when failing
        # closed they reach errors.py, which answers 503.
        "RATELIMIT_SWALLOW_ERRORS": _fail_mode(os.environ.get("SIGNET_RATELIMIT_FAIL", "open")) == "open",
        "MAX_CONTENT_LENGTH": 1024 * 1024,
    }
