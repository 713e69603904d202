"""Two workers (real processes) on one PostgreSQL: FOR UPDATE SKIP LOCKED claims mean no event is
ever sent by both at once, and each is sent exactly once when the receiver answers at once."""
from __future__ import annotations

import pytest

from .conftest import add_endpoint
from .test_worker_process import event_ids, start_worker, states, stop, wait_until


@pytest.fixture
def app(postgres_app):
    return postgres_app


@pytest.mark.usefixtures("app")
def test_two_workers_on_postgresql_never_send_one_event_at_once(app, tenant, receiver, tmp_path):
    add_endpoint(app, tenant, receiver)
    receiver.delay = 0.02
    for n in range(60):
        tenant.set_user({"id": f"p-{n}"})
    expected = event_ids(app)
    workers = [start_worker(app, tmp_path, f"w{i}") for i in range(2)]
    try:
        wait_until(lambda: len(receiver.accepted()) >= len(expected), what="every event delivered")
        wait_until(lambda: all(s == "delivered" for s in states(app)), what="deliveries recorded")
    finally:
        for worker in workers:
            stop(worker)
    ids = [r["id"] for r in receiver.received]
    assert receiver.overlaps == []
    assert sorted(ids) == sorted(expected)  # each exactly once: no retry was needed
    assert all(r["verified"] for r in receiver.received)
