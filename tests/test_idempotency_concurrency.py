"""One Idempotency-Key sent by 16 threads at once to two gunicorn processes: one write, one answer
(issue 19, 4). Every request answers the same 201 and body (the others wait for the first
transaction's key and replay its answer), and one conversation and one message are stored."""
import json
import threading
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import func, select

from webapp import create_app
from webapp.extensions import db
from webapp.models import Conversation, Message

from .servers import Server
from .test_concurrency import SECRET_KEY, database_url, post_json, setup_tenant  # noqa: F401  (fixture)

THREADS = 16


def post(url: str, body: dict, headers: dict) -> tuple[int, bytes, str | None]:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", **headers})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.read(), response.headers.get("Idempotent-Replayed")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), None


def test_one_key_from_16_threads_creates_once(database_url, tmp_path):  # noqa: F811
    tenant_id, _kid, _secret = setup_tenant(database_url, tmp_path)
    env = {"SIGNET_DATABASE_URL": database_url, "SIGNET_SECRET_KEY": SECRET_KEY}
    server = Server(env, workers=2, threads=8)
    base = f"{server.url}/api/v1/widget/{tenant_id}"
    try:
        status, identified = post_json(f"{base}/set-user", {"id": "racer"})
        assert status == 200, identified
        auth = {"Authorization": f"Bearer {identified['session']}"}
        start = threading.Barrier(THREADS)

        def fire(path: str, body: dict, key: str):
            start.wait()
            return post(f"{base}/{path}", body, {**auth, "Idempotency-Key": key})

        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            started = list(pool.map(lambda _: fire("conversations", {"body": "Hello"}, "conv-key"), range(THREADS)))
        assert {(status, body) for status, body, _ in started} == {(201, started[0][1])}, started[:3]
        conversation = json.loads(started[0][1])["id"]
        with ThreadPoolExecutor(max_workers=THREADS) as pool:
            posted = list(pool.map(lambda _: fire(f"conversations/{conversation}/messages",
                                                  {"body": "More", "clientMessageId": "m-1"}, "msg-key"), range(THREADS)))
        assert {(status, body) for status, body, _ in posted} == {(201, posted[0][1])}, posted[:3]
        replayed = [flag for _, _, flag in started + posted]
        assert replayed.count(None) == 2  # one request of each kind made the write
    finally:
        server.stop()
    assert "Traceback" not in server.output()
    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY}, instance_path=str(tmp_path))
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 1
        assert db.session.scalar(select(func.count()).select_from(Message)) == 2
        db.session.remove()
        db.engine.dispose()
