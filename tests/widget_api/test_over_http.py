"""The JSON body as a real server delivers it: in several TCP segments, or chunked."""
from __future__ import annotations

import json
import socket
import time

import pytest

from webapp.extensions import db
from webapp.services.workspace import tenants

from ..conftest import PASSWORD
from ..servers import Server, migrated_app

SECRET_KEY = "over-http-secret-key"


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    folder = tmp_path_factory.mktemp("over-http")
    url, app = migrated_app(folder, SECRET_KEY, "http.sqlite3")
    with app.app_context():
        public_id = tenants.create_tenant("Http", "http@example.com", PASSWORD).public_id
        db.session.remove()
        db.engine.dispose()
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY,
                     "SIGNET_TEST_LOG_DIR": str(folder)}, workers=1, threads=2)
    yield server, f"/api/v1/widget/{public_id}/set-user"
    server.stop()


def exchange(server: Server, head: str, pieces: list[bytes]) -> tuple[int, dict]:
    """Send the request head, then each piece after a pause; the status and JSON answer."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(head.encode())
        for piece in pieces:
            time.sleep(0.05)
            sock.sendall(piece)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    return int(status_line.split()[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


def head(path: str, **headers: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", "Connection: close",
             *(f"{name.replace('_', '-')}: {value}" for name, value in headers.items())]
    return "\r\n".join(lines) + "\r\n\r\n"


def chunked(data: bytes, size: int = 4096) -> list[bytes]:
    return [b"%x\r\n%s\r\n" % (len(data[i:i + size]), data[i:i + size]) for i in range(0, len(data), size)] + [b"0\r\n\r\n"]


def test_a_body_arriving_in_pieces_is_read_whole(served):
    server, path = served
    attrs = {f"k{i}": "x" * 1000 for i in range(3)}
    body = json.dumps({"id": "u-1", "name": "Jane", "attrs": attrs}).encode()
    pieces = [body[i:i + 700] for i in range(0, len(body), 700)]
    status, data = exchange(server, head(path, Content_Length=str(len(body))), pieces)
    assert status == 200, data
    assert data["user"]["name"] == "Jane" and data["user"]["attrs"] == attrs


def test_a_chunked_body_is_read_whole_and_limited(served):
    server, path = served
    attrs = {f"k{i}": "y" * 1000 for i in range(20)}
    body = json.dumps({"id": "u-2", "attrs": attrs}).encode()
    status, data = exchange(server, head(path, Transfer_Encoding="chunked"), chunked(body))
    assert status == 200, data
    assert data["user"]["id"] == "u-2" and data["user"]["attrs"] == attrs
    over = b'{"id": "u-3", "name": "' + b"z" * (64 * 1024) + b'"}'
    status, data = exchange(server, head(path, Transfer_Encoding="chunked"), chunked(over))
    assert status == 413 and data["error"]["code"] == "payload_too_large"
