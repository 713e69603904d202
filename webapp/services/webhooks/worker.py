"""The delivery worker (`flask --app wsgi signet worker`): fan out new events, claim due
deliveries and send each on a thread of its pool, and every few seconds look for conversations
waiting too long. Several workers may share one PostgreSQL database (claims skip each other's
locked rows; leases expire when a worker dies); on SQLite run one.

A claimed delivery always starts at once (never more are claimed than threads are free), so it
finishes well within its lease. SIGTERM or SIGINT: claim nothing more, finish what was started.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from flask import Flask
from sqlalchemy import inspect

from ...extensions import db
from . import delivery, dispatch, notify

log = logging.getLogger("signet.worker")
WAIT_CHECK_EVERY = 15.0  # seconds between two looks for conversations waiting too long


class Worker:
    def __init__(self, app: Flask, threads: int = 4):
        self.app = app
        self.threads = max(1, threads)
        self.stop = threading.Event()
        self.inflight: set[Future] = set()
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="signet-delivery")
        self.next_wait_check = 0.0

    def run(self, until_idle: bool = False) -> None:
        """Until `stop` is set (or, with until_idle, until nothing is due or in flight)."""
        poll = self.app.config.get("SIGNET_WORKER_POLL_SECONDS", 0.5)
        try:
            self._await_schema(poll)
            while not self.stop.is_set():
                try:
                    busy = self.step()
                except Exception as error:  # noqa: BLE001 - a database outage: wait, try again
                    log.error("worker step failed: %s: %s", type(error).__name__, error)
                    self._cleanup()
                    busy = False
                    self.stop.wait(poll * 4)
                if until_idle and not busy and not self.inflight:
                    return
                if not busy:
                    self._settle(poll)
        finally:
            wait(self.inflight)
            self.pool.shutdown(wait=True)

    def _await_schema(self, poll: float) -> None:
        """A fresh database (`make run` before its first migration, a deploy mid-upgrade): wait,
        saying so once, until the outbox table exists."""
        said = False
        while not self.stop.is_set():
            with self.app.app_context():
                try:
                    if inspect(db.engine).has_table("outbox_event"):
                        return
                except Exception:  # noqa: BLE001 - the database is not reachable yet
                    pass
                finally:
                    self._cleanup()
            if not said:
                log.warning("signet worker: waiting for the outbox table (run: flask --app wsgi db upgrade)")
                said = True
            self.stop.wait(max(poll, 1.0))

    def step(self) -> bool:
        """One round; True when it found work (so the next round starts at once)."""
        with self.app.app_context():
            try:
                fanned = dispatch.dispatch_batch()
                claimed = delivery.claim(self.threads - len(self.inflight))
            finally:
                self._cleanup()
        for item in claimed:  # each starts at once: well within its lease
            self.inflight.add(self.pool.submit(self._deliver, item))
        if time.monotonic() >= self.next_wait_check:
            self.next_wait_check = time.monotonic() + self.app.config.get("SIGNET_WAIT_CHECK_SECONDS",
                                                                           WAIT_CHECK_EVERY)
            with self.app.app_context():
                try:
                    notify.check_waiting()
                finally:
                    self._cleanup()
        return bool(fanned or claimed)

    def _settle(self, poll: float) -> None:
        """Sleep up to `poll`, waking early when a delivery in flight finishes (a thread is free)."""
        if self.inflight:
            done, _ = wait(self.inflight, timeout=poll, return_when=FIRST_COMPLETED)
            self.inflight -= done
        else:
            self.stop.wait(poll)
        self.inflight = {f for f in self.inflight if not f.done()}

    def _deliver(self, item: delivery.Claimed) -> None:
        with self.app.app_context():
            try:
                delivery.run(item)
            except Exception as error:  # noqa: BLE001 - the lease expires and another try follows
                log.error("delivery %s failed: %s: %s", item.id, type(error).__name__, error)
            finally:
                self._cleanup()

    @staticmethod
    def _cleanup() -> None:
        try:
            db.session.remove()
        except Exception:  # noqa: BLE001
            pass


def drain(app: Flask, threads: int = 2) -> None:
    """Run until nothing is due now (tests, `signet worker --until-idle`)."""
    Worker(app, threads).run(until_idle=True)
