"""PostgreSQL restarted (twice) and stopped for 3 s under load: only 2xx and 503 + Retry-After,
never a 500, and every acknowledged write stored exactly once (issue 19, "Done when" 3).

12 client threads against `make run`'s server (its worker class and options) do what widgets do:
set-user unsigned with organizations, set-user signed with an HS256 token, start conversations and
post messages with an Idempotency-Key (and a clientMessageId, as signet.js sends), list
conversations. A write answered 503 is retried with the same key (after 0.2 s, not the 5 s
Retry-After, to keep the test short) until it is acknowledged. A client-side connection error
counts as a failure: nothing kills the server here.
"""
from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from http.client import HTTPException

import jwt
import pytest
from sqlalchemy import func, select

from webapp import create_app
from webapp.extensions import db
from webapp.models import Conversation, EndUser, Message

from .servers import PostgresServer, Server
from .test_concurrency import SECRET_KEY, setup_tenant
from .test_slow_clients import make_run_options

THREADS = 12
RETRY_PAUSE = 0.2
SETTLE_SECONDS = 20  # after the load, writes still being retried must be acknowledged within this


@pytest.fixture
def postgres():
    server = PostgresServer()
    yield server
    server.destroy()


class Run:
    """What the clients saw: status counts, contract breaches, and the writes acknowledged."""

    def __init__(self, base: str, kid: str, secret: str):
        self.base, self.kid, self.secret = base, kid, secret
        self.lock = threading.Lock()
        self.statuses: Counter = Counter()
        self.failures: list[str] = []
        self.users: set[str] = set()
        self.conversations: dict[str, str] = {}  # first message's body -> conversation id
        self.messages: set[str] = set()  # clientMessageId
        self.retried: list[tuple[str, str]] = []  # (kind, key) acknowledged after a 503
        self.replayed_after_503 = 0
        self.stop_load = threading.Event()
        self.give_up = float("inf")

    def call(self, method: str, path: str, body: dict | None = None, headers: dict | None = None):
        """(status, JSON body or None, headers); None after a breach of the contract (recorded)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json", **(headers or {})})
        try:
            try:
                with urllib.request.urlopen(request, timeout=20) as response:
                    status, raw, got = response.status, response.read(), response.headers
            except urllib.error.HTTPError as error:
                status, raw, got = error.code, error.read(), error.headers
        except (OSError, HTTPException) as error:  # reset, refused, timed out, truncated
            return self.breach(f"{method} {path}: connection error {error!r}")
        with self.lock:
            self.statuses[status] += 1
        if status == 204 and not raw:
            return status, None, got
        try:
            parsed = json.loads(raw)
        except ValueError:
            return self.breach(f"{method} {path}: {status} with a non-JSON body {raw[:200]!r}")
        if status in (200, 201):
            return status, parsed, got
        error = parsed.get("error") if isinstance(parsed, dict) else None
        shaped = isinstance(error, dict) and isinstance(error.get("code"), str) and isinstance(error.get("message"), str)
        if status == 503 and got.get("Retry-After") and shaped:
            return status, parsed, got
        return self.breach(f"{method} {path}: {status} {got.get('Retry-After')!r} {raw[:300]!r}")

    def breach(self, what: str) -> None:
        with self.lock:
            self.failures.append(what)
        return None

    def until_acknowledged(self, kind: str, key: str, method: str, path: str, body: dict, headers: dict):
        """The same request (same key) until it is answered 2xx; None if it never is."""
        saw_503 = False
        while time.monotonic() < self.give_up:
            answer = self.call(method, path, body, headers)
            if answer is None:
                return None
            status, parsed, got = answer
            if status < 300:
                if saw_503:
                    with self.lock:
                        self.retried.append((kind, key))
                        self.replayed_after_503 += got.get("Idempotent-Replayed") == "true"
                return parsed
            saw_503 = True
            time.sleep(RETRY_PAUSE)
        self.breach(f"{kind} {key}: never acknowledged")
        return None


def set_user_body(run: Run, n: int, i: int) -> tuple[str, dict]:
    """Even threads send unsigned data, odd ones an HS256 token (kept for the retries, as a page
    would); three users per thread, so most calls are for a returning user."""
    if n % 2 == 0:
        user = f"u-{n}-{i % 3}"
        return user, {"id": user, "name": f"User {n}", "attrs": {"plan": "pro", "i": i % 3},
                      "organizations": [{"id": f"uorg-{n % 3}", "name": f"Unsigned {n % 3}"}]}
    user = f"s-{n}-{i % 3}"
    claims = {"id": user, "name": f"Signed {n}", "attrs": {"seat": i % 3}, "exp": int(time.time()) + 600,
              "jti": uuid.uuid4().hex, "organizations": [{"id": f"sorg-{n % 3}", "name": f"Signed {n % 3}"}]}
    return user, {"jwt": jwt.encode(claims, run.secret, algorithm="HS256", headers={"kid": run.kid})}


def client(run: Run, n: int) -> None:
    """One widget's life, over and over: identify, list, start a conversation, post two messages."""
    i = 0
    while not run.stop_load.is_set():
        user, body = set_user_body(run, n, i)
        identified = run.until_acknowledged("user", f"{user}#{i}", "POST", "/set-user", body, {})
        if identified is None:
            return
        with run.lock:
            run.users.add(identified["user"]["id"])
        auth = {"Authorization": f"Bearer {identified['session']}"}
        if run.call("GET", "/conversations", headers=auth) is None:
            return
        text = f"hello {n}-{i}"
        started = run.until_acknowledged("conversation", text, "POST", "/conversations", {"body": text},
                                         {**auth, "Idempotency-Key": f"c-{n}-{i}"})
        if started is None:
            return
        with run.lock:
            run.conversations[text] = started["id"]
        for j in range(2):
            client_id = f"m-{n}-{i}-{j}"
            posted = run.until_acknowledged(
                "message", client_id, "POST", f"/conversations/{started['id']}/messages",
                {"body": f"more {j}", "clientMessageId": client_id}, {**auth, "Idempotency-Key": client_id})
            if posted is None:
                return
            with run.lock:
                run.messages.add(client_id)
        i += 1


def faults(postgres: PostgresServer, log: list[str], started: float) -> None:
    """Two fast restarts, then a stop of 3 s, with load in between (logged in seconds from the start)."""
    for pause, down in ((2.0, 0.0), (2.5, 0.0), (2.5, 3.0)):
        time.sleep(pause)
        postgres.stop()
        log.append(f"stopped at {time.monotonic() - started:.1f}")
        time.sleep(down)
        postgres.start()
        log.append(f"started at {time.monotonic() - started:.1f}")


@pytest.mark.postgres
def test_postgres_restarts_under_load_give_2xx_or_503_and_store_each_write_once(postgres, tmp_path):
    tenant_id, kid, secret = setup_tenant(postgres.url, tmp_path)
    server = Server({"SIGNET_DATABASE_URL": postgres.url, "SIGNET_SECRET_KEY": SECRET_KEY}, args=make_run_options())
    run = Run(f"{server.url}/api/v1/widget/{tenant_id}", kid, secret)
    clients = [threading.Thread(target=client, args=(run, n), daemon=True) for n in range(THREADS)]
    fault_log: list[str] = []
    try:
        started = time.monotonic()
        for thread in clients:
            thread.start()
        faults(postgres, fault_log, started)
        time.sleep(2)  # load on the server after its last restart
        run.give_up = time.monotonic() + SETTLE_SECONDS
        run.stop_load.set()
        for thread in clients:
            thread.join(SETTLE_SECONDS + 5)
        took = time.monotonic() - started
    finally:
        run.stop_load.set()
        server.stop()
    counts = dict(sorted(run.statuses.items()))
    print(f"\nrestart under load: {sum(counts.values())} requests in {took:.1f} s {counts}; "
          f"{len(run.retried)} writes retried after a 503 ({run.replayed_after_503} replayed); faults {fault_log}")
    assert not any(thread.is_alive() for thread in clients)
    assert run.failures == [], run.failures[:10]
    assert set(counts) <= {200, 201, 204, 503}, counts
    assert counts.get(503, 0) > 0 and len(run.retried) > 0, "the faults never reached the load"
    assert "Traceback" not in server.output(), server.output()
    assert_stored_once(postgres.url, tmp_path, run)


def assert_stored_once(url: str, tmp_path, run: Run) -> None:
    """Every acknowledged user, conversation and message is in the database exactly once (those
    retried after a 503 with their Idempotency-Key included), and nothing else is."""
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET_KEY}, instance_path=str(tmp_path))
    with app.app_context():
        users = Counter(db.session.scalars(select(EndUser.external_id).where(EndUser.anonymous.is_(False))))
        assert set(users) == run.users and set(users.values()) == {1}, users
        firsts = Counter(db.session.scalars(select(Message.body).where(Message.body.like("hello %"))))
        assert set(firsts) == set(run.conversations) and set(firsts.values()) == {1}, firsts
        ids = set(db.session.scalars(select(Conversation.public_id)))
        assert set(run.conversations.values()) <= ids and len(ids) == len(run.conversations)
        client_ids = Counter(db.session.scalars(select(Message.client_message_id)
                                                .where(Message.client_message_id.is_not(None))))
        assert set(client_ids) == run.messages and set(client_ids.values()) == {1}, client_ids
        assert db.session.scalar(select(func.count()).select_from(Message)) == len(firsts) + len(client_ids)
        db.session.remove()
        db.engine.dispose()
