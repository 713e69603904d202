"""The widget limit on memory:// counters (the default store) starts no thread per request:
limits' MemoryStorage started a new sweeping timer thread whenever its last had ended, about one
request in ten under steady traffic (infra/ratelimit.sweep_in_one_thread)."""
from __future__ import annotations

import threading

from ..conftest import make_app
from .conftest import identify, make_tenant


def test_two_hundred_limited_calls_start_at_most_one_sweeping_thread(tmp_path, ed_key, monkeypatch):
    app = make_app(tmp_path, SIGNET_RATELIMIT="100000/minute")
    client = make_tenant(app, ed_key).api_client()
    identify(client, {"id": None})
    started = []
    original = threading.Thread.start
    monkeypatch.setattr(threading.Thread, "start", lambda thread: started.append(thread.name) or original(thread))
    for _ in range(200):
        identify(client, {"id": None})
    assert len(started) <= 1, started
