"""webapp/infra/outbound.py against a real local HTTP server: what is refused, what is returned."""
from __future__ import annotations

import http.server
import socket
import threading
import time

import pytest

from webapp.infra import outbound
from webapp.infra.outbound import OutboundFailed, OutboundRefused

from .conftest import make_app


class _Handler(http.server.BaseHTTPRequestHandler):
    hits: list[str] = []

    def do_GET(self):  # noqa: N802 - http.server's name
        _Handler.hits.append(self.path)
        if self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "http://127.0.0.1:1/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/big":
            body = b"x" * 200_000
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.path == "/slow":
            time.sleep(3)
            self.send_response(200)
            self.end_headers()
        else:
            body = b'{"ok": true}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Cache-Control", "max-age=60")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def do_POST(self):  # noqa: N802
        length = int(self.headers.get("Content-Length", "0"))
        _Handler.hits.append("POST " + self.rfile.read(length).decode())
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Handler.hits = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def allowed(monkeypatch):
    monkeypatch.setenv("SIGNET_ALLOW_PRIVATE_URLS", "1")


def test_http_and_loopback_refused_without_the_setting(server, monkeypatch):
    monkeypatch.delenv("SIGNET_ALLOW_PRIVATE_URLS", raising=False)
    url, port = server
    for bad in (url + "/", f"https://127.0.0.1:{port}/", f"https://localhost:{port}/",
                f"https://[::1]:{port}/", f"https://[::ffff:127.0.0.1]:{port}/", "ftp://example.com/",
                "https://user:pw@example.com/", "https:///nohost"):
        with pytest.raises(OutboundRefused) as refused:
            outbound.fetch(bad)
        assert refused.value.code == "url_not_allowed"
        with pytest.raises(OutboundRefused):
            outbound.check_url(bad)
    assert _Handler.hits == []  # nothing reached the server


def test_app_config_decides_inside_an_app(tmp_path, server, monkeypatch):
    monkeypatch.delenv("SIGNET_ALLOW_PRIVATE_URLS", raising=False)
    url, _ = server
    app = make_app(tmp_path)
    assert app.config["SIGNET_ALLOW_PRIVATE_URLS"] is False
    with app.app_context(), pytest.raises(OutboundRefused):
        outbound.fetch(url + "/")
    app.config["SIGNET_ALLOW_PRIVATE_URLS"] = True
    with app.app_context():
        assert outbound.fetch(url + "/").status == 200


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2606:4700:4700::1111", True),
    ("127.0.0.1", False), ("10.1.2.3", False), ("172.16.0.1", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("240.0.0.1", False), ("255.255.255.255", False), ("::1", False), ("::", False), ("fe80::1", False),
    ("fc00::1", False), ("ff02::1", False), ("::ffff:127.0.0.1", False), ("::ffff:8.8.8.8", True),
    ("64:ff9b::a00:1", False), ("2002:7f00:1::", False), ("fe80::1%1", False),
])
def test_address_rules(address, public):
    assert outbound._public(address) is public


def test_a_name_resolving_to_a_private_address_is_refused_after_resolution(monkeypatch):
    monkeypatch.delenv("SIGNET_ALLOW_PRIVATE_URLS", raising=False)
    answers = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", 443)),
               (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("10.0.0.5", 443))]
    monkeypatch.setattr(socket, "getaddrinfo", lambda *a, **k: answers)
    with pytest.raises(OutboundRefused, match="private"):
        outbound.check_url("https://jwks.example.com/keys")  # one bad address of two refuses


def test_the_connection_goes_to_the_checked_address(server, allowed, monkeypatch):
    url, port = server
    calls = []
    real = socket.getaddrinfo

    def resolve(host, *args, **kwargs):
        calls.append(host)
        return real("127.0.0.1", *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolve)
    answer = outbound.fetch(f"http://jwks.invalid:{port}/keys")
    assert answer.status == 200 and calls == ["jwks.invalid"]  # resolved once, connected to that


def test_get_post_and_headers(server, allowed):
    url, _ = server
    answer = outbound.fetch(url + "/jwks")
    assert answer.status == 200 and answer.body == b'{"ok": true}' and not answer.truncated
    assert answer.headers["cache-control"] == "max-age=60"
    posted = outbound.fetch(url + "/hook", method="POST", body=b"hello", headers={"Content-Type": "text/plain"})
    assert posted.status == 204 and "POST hello" in _Handler.hits


def test_redirects_are_not_followed(server, allowed):
    url, _ = server
    answer = outbound.fetch(url + "/redirect")
    assert answer.status == 302 and answer.headers["location"].endswith("/elsewhere")
    assert _Handler.hits == ["/redirect"]


def test_an_oversize_body_is_cut(server, allowed):
    url, _ = server
    answer = outbound.fetch(url + "/big", max_bytes=1000)
    assert answer.truncated and len(answer.body) == 1000


def test_a_slow_server_times_out(server, allowed):
    url, _ = server
    started = time.monotonic()
    with pytest.raises(OutboundFailed, match="did not answer|time limit"):
        outbound.fetch(url + "/slow", timeout=0.5)
    assert time.monotonic() - started < 2


def test_connection_refused_and_unresolvable_fail(allowed):
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(OutboundFailed):
        outbound.fetch(f"http://127.0.0.1:{port}/")
    with pytest.raises(OutboundFailed):
        outbound.fetch("http://no-such-host.invalid/")


def _trickling_server(stop: threading.Event) -> int:
    """A raw server that answers a status line, then one header line every 0.2 s for 8 s."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(4)

    def serve():
        conn, _ = listener.accept()
        with conn, listener:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            for _ in range(40):
                if stop.is_set():
                    return
                try:
                    conn.sendall(b"X-Slow: 1\r\n")
                except OSError:
                    return
                time.sleep(0.2)

    threading.Thread(target=serve, daemon=True).start()
    return listener.getsockname()[1]


def test_the_deadline_covers_a_server_trickling_its_headers(allowed):
    """Security review: each header read used to get the whole timeout afresh, so a server sending a
    header line every few seconds held the caller (a webhook worker, an SSO login request) without
    end. The one deadline now covers the status line and headers too."""
    stop = threading.Event()
    port = _trickling_server(stop)
    started = time.monotonic()
    try:
        with pytest.raises(OutboundFailed, match="did not answer|time limit"):
            outbound.fetch(f"http://127.0.0.1:{port}/", timeout=1.0)
        assert time.monotonic() - started < 2.5
    finally:
        stop.set()
