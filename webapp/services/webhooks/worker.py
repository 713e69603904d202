"""The delivery worker (`flask --app wsgi signet worker`): each round records what the last sends
did (one transaction), then fans out new events and claims a batch of due deliveries (one
transaction), and sends the batch at once on a small thread pool; every few seconds it looks for
conversations waiting too long. Several workers may share one PostgreSQL database (claims skip
each other's locked rows; leases expire when a worker dies); on SQLite run one.

Deliveries of one batch, even to one endpoint, are sent in parallel: Standard Webhooks promises no
order, and the events carry their own timestamps. At most `capacity` deliveries are claimed at once
(BATCH, and no more than the pool can send within a lease), and a send that could not end within
its lease is not started (delivery.send), so a lease never runs out under a live worker.
An idle worker polls with one cheap read every SIGNET_WORKER_POLL_SECONDS (0.2 s).
SIGTERM or SIGINT: claim nothing more, finish and record what was started.
"""
from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from flask import Flask
from sqlalchemy import inspect

from ...extensions import db
from ...infra.database import writing
from . import delivery, dispatch, member_events, notify, recording

log = logging.getLogger("signet.worker")
WAIT_CHECK_EVERY = 15.0  # seconds between two looks for conversations waiting too long
BATCH = 50  # deliveries claimed at most in one transaction
POLL = 0.2  # seconds an idle worker waits between two looks


class Worker:
    def __init__(self, app: Flask, threads: int = 8):
        self.app = app
        self.threads = max(1, threads)
        self.stop = threading.Event()
        self.inflight: dict[Future, delivery.Job] = {}
        self.finished: list[tuple[delivery.Job, delivery.Outcome]] = []
        self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="signet-delivery")
        self.next_wait_check = 0.0
        self.idle = True  # the last round found nothing: look (one read) before taking a write lock
        with app.app_context():
            rounds = max(1, int((delivery.lease_seconds() - delivery.MARGIN) // delivery.TIMEOUT))
        self.capacity = min(BATCH, self.threads * rounds)

    def run(self, until_idle: bool = False) -> None:
        """Until `stop` is set (or, with until_idle, until nothing is due or in flight)."""
        poll = self.app.config.get("SIGNET_WORKER_POLL_SECONDS", POLL)
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
                if until_idle and not busy and not self.inflight and not self.finished:
                    return
                self._settle(poll, busy)
        finally:
            wait(list(self.inflight))
            self._collect()
            self._record_finished(final=True)
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
        self._collect()
        self._record_finished()
        free = self.capacity - len(self.inflight)
        fanned, jobs = 0, []
        if free >= max(1, self.capacity // 2) or not self.inflight:  # a batch worth a transaction
            with self.app.app_context():
                try:
                    if not self.idle or delivery.anything_due():
                        with writing():
                            fanned = member_events.tell() + dispatch.fan_out()
                            jobs = delivery.claim(free)
                finally:
                    self._cleanup()
        for job in jobs:
            self.inflight[self.pool.submit(self._send, job)] = job
        self._check_waiting()
        self.idle = not (fanned or jobs)
        return bool(fanned or jobs)

    def _collect(self) -> None:
        for future in [f for f in self.inflight if f.done()]:
            job = self.inflight.pop(future)
            try:
                outcome = future.result()
            except Exception as error:  # noqa: BLE001 - a bug while sending: an attempt that failed
                log.error("delivery %s failed: %s: %s", job.id, type(error).__name__, error)
                outcome = delivery.Outcome(False, None, f"internal error: {type(error).__name__}", 0)
            self.finished.append((job, outcome))

    def _record_finished(self, final: bool = False) -> None:
        """One transaction for every result collected; kept for the next round if it fails."""
        if not self.finished:
            return
        with self.app.app_context():
            try:
                recording.record(self.finished)
                self.finished = []
            except Exception as error:  # noqa: BLE001
                if final:  # stopping: the leases expire and the deliveries are sent again
                    log.error("could not record %d result(s): %s", len(self.finished), error)
                    self.finished = []
                else:
                    raise
            finally:
                self._cleanup()

    def _check_waiting(self) -> None:
        if time.monotonic() < self.next_wait_check:
            return
        self.next_wait_check = time.monotonic() + self.app.config.get("SIGNET_WAIT_CHECK_SECONDS", WAIT_CHECK_EVERY)
        with self.app.app_context():
            try:
                notify.check_waiting()
            finally:
                self._cleanup()

    def _settle(self, poll: float, busy: bool) -> None:
        """Wait, up to `poll`, until enough of the sends in flight ended that a new batch is worth
        claiming (half the capacity free), so a slow endpoint holds up no other; with nothing in
        flight and nothing found, sleep `poll`."""
        if not self.inflight:
            if not busy:
                self.stop.wait(poll)
            return
        deadline = time.monotonic() + poll
        needed = max(1, self.capacity // 2) - (self.capacity - len(self.inflight))
        pending, ended = set(self.inflight), 0
        while pending and ended < needed and not self.stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            done, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
            ended += len(done)

    def _send(self, job: delivery.Job) -> delivery.Outcome:
        with self.app.app_context():  # configuration only: sends never touch the database
            return delivery.send(job)

    @staticmethod
    def _cleanup() -> None:
        try:
            db.session.remove()
        except Exception:  # noqa: BLE001
            pass


def drain(app: Flask, threads: int = 2) -> None:
    """Run until nothing is due now (tests, `signet worker --until-idle`)."""
    Worker(app, threads).run(until_idle=True)
