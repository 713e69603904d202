"""The worker as operators run it (`flask --app wsgi signet worker`, a real process): killed with
SIGKILL mid-delivery and started again, nothing is lost; two workers on one PostgreSQL never send
one event at the same time (test_worker_postgres.py)."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Delivery, OutboxEvent

from ..servers import ROOT
from .conftest import add_endpoint


def start_worker(app, tmp_path, name: str, **env) -> subprocess.Popen:
    log = open(tmp_path / f"{name}.log", "w")
    return subprocess.Popen(
        [sys.executable, "-m", "flask", "--app", "wsgi", "signet", "worker", "--threads", "4"],
        cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
        env={**os.environ, "SIGNET_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
             "SIGNET_SECRET_KEY": app.config["SECRET_KEY"], "SIGNET_ALLOW_PRIVATE_URLS": "1",
             "SIGNET_WORKER_POLL_SECONDS": "0.1", "SIGNET_WEBHOOK_BACKOFF_SCALE": "0.01", **env})


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def event_ids(app) -> set[str]:
    with app.app_context():
        return set(db.session.scalars(select(OutboxEvent.public_id)))


def states(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(Delivery.state)))


def wait_until(predicate, timeout: float = 60, what: str = "condition") -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def test_sigkill_mid_delivery_then_restart_loses_nothing(app, tenant, receiver, tmp_path):
    add_endpoint(app, tenant, receiver, "user.created")
    for n in range(6):
        tenant.set_user({"id": f"k-{n}"})
    expected = event_ids(app)
    assert len(expected) == 6
    receiver.hold.clear()  # every request is held: the worker is mid-delivery
    first = start_worker(app, tmp_path, "first", SIGNET_WEBHOOK_LEASE_SECONDS="3")
    try:
        receiver.wait_for(lambda got: len(got) >= 1)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
    finally:
        stop(first)
    held = {r["id"] for r in receiver.received}
    killed_at = time.time()
    receiver.hold.set()  # the held requests end (their worker is gone: nobody records them)
    second = start_worker(app, tmp_path, "second", SIGNET_WEBHOOK_LEASE_SECONDS="3")
    try:
        wait_until(lambda: states(app) and all(s == "delivered" for s in states(app)) and len(states(app)) == 6,
                   what="every delivery delivered")
    finally:
        stop(second)
    got = {r["id"] for r in receiver.accepted()}
    assert expected <= got  # every event arrived
    # Every request sent whole is signed right; one the killed worker was sending may arrive cut
    # short (its body shorter than its Content-Length), and is answered by no one.
    assert all(r["verified"] for r in receiver.received if r["complete"])
    assert all(r["complete"] and r["verified"] for r in receiver.received if r["arrived"] > killed_at)
    # the ones held when the worker died were sent again after its lease expired, same webhook-id
    again = [r["id"] for r in receiver.received]
    assert all(again.count(i) >= 2 for i in held), (held, again)
