"""Work a request hands off so that its answer, and how long it takes, cannot depend on it.

Email sign-in (API.md §5) must answer the same, in the same time, for known and unknown
addresses: the request only checks what was typed and calls `after_request`; finding the
user, storing the link and mailing it happen here, once the response is made. One daemon worker thread per process takes jobs
from an in-memory queue in order and runs each inside an app context of the app that submitted
it. A job that fails is logged (its name and error, never its arguments: they hold addresses).

The queue is bounded: past MAX_PENDING jobs waiting (a flood of requests beyond the throttles),
a new job is dropped with a warning, and the page still answers the same. Jobs waiting when the
process stops are lost, as a mail lost in transit: the person asks again.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from typing import Callable

from flask import Flask, current_app, g, has_request_context

log = logging.getLogger("signet.background")
MAX_PENDING = 1000
# A job starts no sooner than this after it was submitted: by then the server has sent the
# response of the request it came from, so the job (Python code holding the interpreter lock
# for up to its 5 ms switch interval) never delays that response. Mail may wait 20 ms.
START_DELAY = 0.02

_lock = threading.Lock()
_idle = threading.Condition(_lock)
_jobs: queue.SimpleQueue | None = None
_owner_pid: int | None = None
_pending = 0


def init_app(app: Flask) -> None:
    app.teardown_request(_start_deferred)


def after_request(job: Callable, *args) -> None:
    """Run `job(*args)` on the worker once this request's response is made (at teardown), so the
    job never competes with the request it came from for the interpreter: a job that does more
    for some inputs then cannot make their answers slower. Outside a request: at once."""
    if not has_request_context():
        submit(job, *args)
        return
    g.setdefault("signet_deferred_jobs", []).append((job, args))


def _start_deferred(error: BaseException | None) -> None:
    for job, args in g.pop("signet_deferred_jobs", ()):
        submit(job, *args)


def submit(job: Callable, *args) -> bool:
    """Run `job(*args)` on the worker, in an app context; False when it was dropped (full)."""
    global _pending
    app = current_app._get_current_object()
    with _lock:
        jobs = _worker_queue()
        if _pending >= MAX_PENDING:
            log.warning("background queue full: dropped %s", getattr(job, "__name__", "a job"))
            return False
        _pending += 1
    jobs.put((time.monotonic() + START_DELAY, app, job, args))
    return True


def wait_idle(timeout: float = 10) -> bool:
    """Block until every submitted job has finished (tests, and a clean shutdown); False on timeout."""
    with _idle:
        return _idle.wait_for(lambda: _pending == 0, timeout)


def _worker_queue() -> queue.SimpleQueue:
    """This process's queue, its worker started on first use (threads do not survive a fork, so
    a gunicorn worker forked from a preloaded app starts its own). Called with _lock held."""
    global _jobs, _owner_pid, _pending
    if _owner_pid != os.getpid() or _jobs is None:
        _jobs, _owner_pid, _pending = queue.SimpleQueue(), os.getpid(), 0
        threading.Thread(target=_work, args=(_jobs,), name="signet-background", daemon=True).start()
    return _jobs


def _work(jobs: queue.SimpleQueue) -> None:
    global _pending
    while True:
        not_before, app, job, args = jobs.get()
        time.sleep(max(0.0, not_before - time.monotonic()))
        try:
            with app.app_context():
                job(*args)
        except Exception as error:  # noqa: BLE001 - a failed job must never stop the worker
            log.error("background job %s failed: %s", getattr(job, "__name__", "?"), type(error).__name__)
        finally:
            with _idle:
                _pending -= 1
                _idle.notify_all()
