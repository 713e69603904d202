"""Rate limiting shared by the login throttle (Flask-Limiter decorators) and the widget API.

The counters live in SIGNET_RATELIMIT_STORAGE_URL (memory, or Redis for several processes).
When that store cannot be reached, SIGNET_RATELIMIT_FAIL says what happens: "open" serves the
request without a limit, "closed" answers 503. Never a 500.

Redis never slows requests down: its sockets time out after STORE_TIMEOUT, redis-py's own
retries (with back-off, seconds in all) are off, and a circuit breaker skips Redis altogether for
BREAKER_COOLDOWN seconds after a failure, then lets one request probe it. While Redis is away,
failing open or closed costs no waiting at all.
"""
from __future__ import annotations

import logging
import os
import threading
import time
import weakref

import redis
from flask import Flask, current_app
from limits.errors import StorageError
from limits.storage import MemoryStorage
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from redis.retry import Retry

# What a rate-limit store raises when it is down or unreachable.
STORE_DOWN = (StorageError, RedisError, ConnectionError, TimeoutError)
STORE_TIMEOUT = 0.25  # seconds: connect, and each read or write on the socket
BREAKER_COOLDOWN = 5.0
_UNAVAILABLE = (RedisConnectionError, RedisTimeoutError, OSError)
log = logging.getLogger(__name__)


class StoreSkipped(RedisConnectionError):
    """Raised at once, without touching the network, while the breaker is open."""


class Breaker:
    """Closed: every call goes to Redis. A failure opens it for `cooldown` seconds (calls skipped
    at once); then one call probes: success closes it, failure opens it again."""

    def __init__(self, cooldown: float = BREAKER_COOLDOWN):
        self.cooldown = cooldown
        self.open_until = 0.0  # monotonic time; 0 when closed
        self._lock = threading.Lock()

    @property
    def is_open(self) -> bool:
        return bool(self.open_until)

    def allow(self) -> bool:
        if not self.open_until:
            return True
        with self._lock:
            now = time.monotonic()
            if not self.open_until:
                return True
            if now < self.open_until:
                return False
            self.open_until = now + self.cooldown  # this caller probes; the others keep skipping
            return True

    def failed(self, error: BaseException) -> None:
        with self._lock:
            was_open, self.open_until = self.open_until, time.monotonic() + self.cooldown
        if not was_open:
            log.warning("rate-limit store unreachable (%s): skipping it for %g s", error.__class__.__name__,
                        self.cooldown)

    def succeeded(self) -> None:
        if self.open_until:
            with self._lock:
                self.open_until = 0.0
            log.warning("rate-limit store reachable again")


class BreakerConnection(redis.Connection):
    """A redis-py connection that asks its pool's breaker before each command and reports to it."""

    breaker: Breaker

    def connect(self):
        if not self.breaker.allow():
            raise StoreSkipped("rate-limit store skipped while its circuit breaker is open")
        try:
            super().connect()
        except _UNAVAILABLE as error:
            self.breaker.failed(error)
            raise

    def send_packed_command(self, command, check_health=True):
        try:
            super().send_packed_command(command, check_health)
        except _UNAVAILABLE as error:
            self.breaker.failed(error)
            raise

    def read_response(self, *args, **kwargs):
        try:
            response = super().read_response(*args, **kwargs)
        except _UNAVAILABLE as error:
            self.breaker.failed(error)
            raise
        self.breaker.succeeded()
        return response


def configure(app: Flask) -> None:
    """Storage options for Flask-Limiter (call before limiter.init_app): short timeouts, no
    retries, and for redis:// a breaker of this app's own (app.extensions["signet_breaker"])."""
    uri = app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    options = dict(app.config.get("RATELIMIT_STORAGE_OPTIONS") or {})
    if uri.startswith(("redis://", "rediss://", "redis+unix://", "unix://")):
        options.setdefault("socket_timeout", STORE_TIMEOUT)
        options.setdefault("socket_connect_timeout", STORE_TIMEOUT)
        options.setdefault("retry", Retry(NoBackoff(), 0))
    if uri.startswith("redis://"):  # other schemes pick their own connection class (TLS, unix socket)
        breaker = Breaker()
        options["connection_class"] = type("BreakerConnection", (BreakerConnection,), {"breaker": breaker})
        app.extensions["signet_breaker"] = breaker
    app.config["RATELIMIT_STORAGE_OPTIONS"] = options


SWEEP_EVERY = 1.0  # seconds between two sweeps of expired in-memory counters


def sweep_in_one_thread(storage) -> None:
    """For memory:// counters: one sweeping thread per process instead of a thread per sweep.

    limits' MemoryStorage starts a new 10 ms timer thread on a hit whenever its last one has
    ended, so under steady traffic about one request in ten started a thread (measured on the
    widget's set-user: ~200 µs a request on average, a fifth of it). The sweep only frees memory:
    a counter past its window is dropped when read anyway (MemoryStorage.get), so counting is
    unchanged; here one daemon thread sweeps every SWEEP_EVERY seconds."""
    if isinstance(storage, MemoryStorage):
        storage._MemoryStorage__schedule_expiry = lambda: _sweeper(storage)


def _sweeper(storage) -> None:
    pid = os.getpid()
    if storage.__dict__.get("_signet_sweeper") == pid:
        return
    with _sweeper_lock:
        if storage.__dict__.get("_signet_sweeper") == pid:
            return
        storage._signet_sweeper = pid  # threads do not survive a fork: one per process
        threading.Thread(target=_sweep_forever, args=(weakref.ref(storage),), name="signet-ratelimit-sweep",
                         daemon=True).start()


_sweeper_lock = threading.Lock()


def _sweep_forever(ref) -> None:
    while True:
        time.sleep(SWEEP_EVERY)
        storage = ref()
        if storage is None:
            return
        try:
            storage._MemoryStorage__expire_events()
        except Exception:  # noqa: BLE001  a sweep that failed frees its memory on the next one
            log.warning("rate-limit counters not swept", exc_info=True)
        del storage


def store_state() -> str:
    """"n/a" (counters in memory), "down" or "ok": for /healthz."""
    from ..extensions import limiter

    uri = current_app.config.get("RATELIMIT_STORAGE_URI") or "memory://"
    if uri.startswith("memory://"):
        return "n/a"
    # One PING, bounded by STORE_TIMEOUT; skipped at once while the breaker is open, the probe after.
    return "ok" if limiter.storage.check() else "down"


def fails_open() -> bool:
    return current_app.config.get("SIGNET_RATELIMIT_FAIL", "open") == "open"


def store_down(error: Exception) -> bool:
    """Log it (once per outage when the breaker skips the store); True when the request should
    go on without a limit (fail open)."""
    if not isinstance(error, StoreSkipped):
        current_app.logger.warning("rate-limit store unavailable (%s): failing %s",
                                   error.__class__.__name__, "open" if fails_open() else "closed")
    return fails_open()
