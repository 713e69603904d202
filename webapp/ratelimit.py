"""Rate limiting shared by the login throttle (Flask-Limiter decorators) and the widget API.

The counters live in SIGNET_RATELIMIT_STORAGE_URL (memory, or Redis for several processes).
When that store cannot be reached, SIGNET_RATELIMIT_FAIL says what happens: "open" serves the
request without a limit, "closed" answers 503. Never a 500.
"""
from __future__ import annotations

from flask import current_app
from limits.errors import StorageError
from redis.exceptions import RedisError

# What a rate-limit store raises when it is down or unreachable.
STORE_DOWN = (StorageError, RedisError, ConnectionError, TimeoutError)


def fails_open() -> bool:
    return current_app.config.get("SIGNET_RATELIMIT_FAIL", "open") == "open"


def store_down(error: Exception) -> bool:
    """Log it; True when the request should go on without a limit (fail open)."""
    current_app.logger.warning("rate-limit store unavailable (%s): failing %s",
                               error.__class__.__name__, "open" if fails_open() else "closed")
    return fails_open()
