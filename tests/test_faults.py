"""With the database unreachable, the API answers 503 service_unavailable and pages say so: no 500."""
import json
import socket

import pytest

from webapp import create_app
from webapp.extensions import db
from webapp.services.workspace import tenants

from .conftest import PASSWORD
from .helpers import csrf_of
from .servers import Server, migrated_app

UNREACHABLE = "postgresql+psycopg://signet:signet@127.0.0.1:9/none"  # nothing listens on port 9


def test_unreachable_database_gives_503_not_500(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": UNREACHABLE, "SECRET_KEY": "faults"}, instance_path=str(tmp_path))
    client = app.test_client()
    api = client.post("/api/v1/widget/any-tenant/set-user", json={"id": None})
    assert api.status_code == 503
    assert api.json["error"]["code"] == "service_unavailable"
    assert api.headers["Retry-After"] == "5"
    token = csrf_of(client.get("/login").get_data(as_text=True))
    page = client.post("/login", data={"email": "a@example.com", "password": "whatever-123", "csrf_token": token})
    assert page.status_code == 503
    assert "cannot reach its database" in page.get_data(as_text=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.headers["Retry-After"] == "5"
    assert health.json == {"status": "down", "database": "down", "ratelimit": "n/a"}  # says which dependency


def raw_post(port: int, path: str, body: bytes, half_close: bool = False) -> tuple[int, dict]:
    """A hand-made chunked POST on a raw socket: (status, JSON body)."""
    head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/json\r\n"
            "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n").encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(head + body)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    status_line, _, rest = answer.partition(b"\r\n")
    headers, _, payload = rest.partition(b"\r\n\r\n")
    assert b"application/json" in headers.lower(), answer[:500]
    return int(status_line.split()[1]), json.loads(payload)


@pytest.mark.parametrize("worker", ["gthread", "webapp.infra.serving.BufferingWorker"])
def test_malformed_chunked_body_is_400_invalid_json(tmp_path, worker):
    """gunicorn's body reader raises (InvalidChunkSize, NoMoreData) inside the JSON reader: a 400,
    with gunicorn's threaded worker and with `make run`'s."""
    url, app = migrated_app(tmp_path, "k")
    with app.app_context():
        tenant_id = tenants.create_tenant("Chunks", "chunks@example.com", PASSWORD).public_id
        db.session.remove()
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": "k"}, args=("--worker-class", worker))
    path = f"/api/v1/widget/{tenant_id}/set-user"
    try:
        good = b'{"id":null}'
        assert raw_post(server.port, path, b"%x\r\n%s\r\n0\r\n\r\n" % (len(good), good))[0] == 200
        for body, half_close in [(b"zz\r\n{}\r\n0\r\n\r\n", False),  # not a hex size: InvalidChunkSize
                                 (b"5\r\n{}\r\n0\r\n\r\n", False),  # size and data disagree
                                 (b"ff\r\n{\"id\":", True)]:  # cut short: the client stopped sending
            status, answer = raw_post(server.port, path, body, half_close)
            assert status == 400 and answer["error"]["code"] == "invalid_json", (body, answer)
    finally:
        server.stop()
    assert "Traceback" not in server.output()
