"""Slow clients cannot starve `make run`'s server: requests are read whole on the worker's event
loop (webapp/infra/serving.py) before a thread takes them, and one not read within READ_SECONDS is
dropped. Before it, 8 sockets sending a byte a second held gthread's 8 threads: a normal request
waited over 30 s."""
from __future__ import annotations

import shlex
import socket
import subprocess
import threading
import time
import urllib.request

from webapp.extensions import db
from webapp.infra.serving import READ_SECONDS, request_complete
from webapp.services.workspace import tenants

from .conftest import PASSWORD
from .servers import ROOT, Server, migrated_app

SLOW_SOCKETS = 8


def make_run_options() -> tuple[str, ...]:
    """The gunicorn options `make run` serves Signet with (the Makefile's own, via make -n)."""
    printed = subprocess.run(["make", "-n", "serve-only"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    line = next(part for part in printed.split(" -- ") if "wsgi:app" in part)
    words = shlex.split(line)
    words = words[next(i for i, word in enumerate(words) if word.endswith("gunicorn")) + 1:words.index("wsgi:app")]
    options, skip = [], False
    for word in words:
        if skip:
            skip = False
        elif word in ("--bind", "--access-logfile"):
            skip = True
        else:
            options.append(word)
    assert "--worker-class" in options, options
    return tuple(options)


def trickle(port: int, path: str, closed_after: list, stop: threading.Event, head_at_once: bool) -> None:
    """Send a request one byte every 0.2 s (or its head at once, then its body so); record how long
    until the server closed the socket."""
    body = b'{"id": "slow"}' + b" " * 10_000
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n").encode()
    started = time.monotonic()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        if head_at_once:
            sock.sendall(head)
        for byte in body if head_at_once else head + body:
            if stop.is_set():
                return
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            time.sleep(0.2)
        closed_after.append(time.monotonic() - started)


def test_slow_sockets_do_not_starve_make_runs_server(tmp_path):
    url, app = migrated_app(tmp_path, "k")
    with app.app_context():
        tenant_id = tenants.create_tenant("Slow", "slow@example.com", PASSWORD).public_id
        db.session.remove()
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": "k"}, args=make_run_options())
    path = f"/api/v1/widget/{tenant_id}/set-user"
    stop, closed_after = threading.Event(), []
    slow = [threading.Thread(target=trickle, args=(server.port, path, closed_after, stop, index % 2 == 0),
                             daemon=True) for index in range(SLOW_SOCKETS)]
    try:
        for thread in slow:
            thread.start()
        time.sleep(2)  # every slow socket has sent its first bytes
        for index in range(10):
            started = time.monotonic()
            request = urllib.request.Request(server.url + path, data=b'{"id": "u%d"}' % index,
                                             headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.status == 200
            assert time.monotonic() - started < 1
        for thread in slow:
            thread.join(READ_SECONDS + 5)
        # Each was dropped once its READ_SECONDS were up (sending fails on the closed socket).
        assert len(closed_after) == SLOW_SOCKETS and max(closed_after) < READ_SECONDS + 3, closed_after
    finally:
        stop.set()
        server.stop()
    assert "Traceback" not in server.output()


def test_what_counts_as_a_whole_request():
    head = b"POST / HTTP/1.1\r\nHost: x\r\n"
    assert not request_complete(head)
    assert request_complete(head + b"\r\n")
    assert not request_complete(head + b"Content-Length: 5\r\n\r\n1234")
    assert request_complete(head + b"content-length: 5\r\n\r\n12345")
    chunked = head + b"Transfer-Encoding: chunked\r\n\r\n"
    assert not request_complete(chunked + b"4\r\nab")
    assert not request_complete(chunked + b"2\r\nab\r\n0\r\n")
    assert request_complete(chunked + b"2\r\nab\r\n0\r\n\r\n")
    assert request_complete(chunked + b"zz\r\n")  # malformed: the parser answers it now
    assert request_complete(head + b"Expect: 100-continue\r\nContent-Length: 9\r\n\r\n")
    # A length no body has (int() refuses over 4 300 digits): complete, the parser refuses it.
    assert request_complete(head + b"Content-Length: " + b"1" * 4301 + b"\r\n\r\n")
    assert request_complete(head + b"Content-Length: " + b"1" * 19 + b"\r\n\r\n")


def test_an_endless_content_length_is_refused_and_the_worker_lives_on(tmp_path):
    """One request with a 4 301-digit Content-Length ended `make run`'s worker (a ValueError on
    its event loop): every request it held was lost. Now gunicorn answers it 400, and the next
    request is served by the same worker."""
    url, app = migrated_app(tmp_path, "k")
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": "k"}, workers=1, args=make_run_options())
    try:
        worker = subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True).stdout.split()
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
            sock.sendall(b"POST /api/v1/widget/x/set-user HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         b"Content-Type: application/json\r\nContent-Length: " + b"1" * 4301 + b"\r\n\r\n{}")
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
        with urllib.request.urlopen(server.url + "/healthz", timeout=10) as response:
            assert response.status == 200
        assert subprocess.run(["pgrep", "-P", str(server.process.pid)], capture_output=True,
                              text=True).stdout.split() == worker  # the same worker
    finally:
        server.stop()
    assert "Traceback" not in server.output() and "Worker exited" not in server.output()
