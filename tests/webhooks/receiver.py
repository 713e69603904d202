"""A webhook receiver on 127.0.0.1 for tests: verifies every delivery with the standardwebhooks
library (as a customer would), records it, and can answer errors or hold requests."""
from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook


class Receiver:
    def __init__(self, secret: str | None = None):
        self.secret = secret
        self.lock = threading.Condition()
        self.received: list[dict] = []  # every request, verified or not
        self.in_flight: set[str] = set()
        self.overlaps: list[str] = []  # webhook-ids received while the same id was in flight
        self.statuses: list[int] = []  # answers to give, in order (then 204)
        self.hold = threading.Event()
        self.hold.set()  # set: answer at once; clear: hold every request until set again
        self.delay = 0.0
        ThreadingHTTPServer.request_queue_size = 128  # a worker sends in parallel (5 would refuse some)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                length = int(self.headers.get("content-length", 0))
                body = self.rfile.read(length)
                headers = {k.lower(): v for k, v in self.headers.items()}
                status = receiver._arrive(body, headers, complete=len(body) == length)
                self.send_response(status)
                self.send_header("content-length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

        return Handler

    def _arrive(self, body: bytes, headers: dict, complete: bool = True) -> int:
        webhook_id = headers.get("webhook-id", "")
        try:
            payload = Webhook(self.secret).verify(body, headers)
            verified = True
        except Exception:  # noqa: BLE001
            try:
                payload = json.loads(body or b"null")
            except ValueError:  # cut short: its sender died mid-request
                payload = None
            verified = False
        with self.lock:
            if webhook_id in self.in_flight:
                self.overlaps.append(webhook_id)
            self.in_flight.add(webhook_id)
            status = self.statuses.pop(0) if self.statuses else 204
            record = {"id": webhook_id, "type": (payload or {}).get("type"), "payload": payload,
                      "verified": verified, "complete": complete, "arrived": time.time(), "status": status,
                      "headers": headers}
            self.received.append(record)
            self.lock.notify_all()
        self.hold.wait(60)
        if self.delay:
            time.sleep(self.delay)
        with self.lock:
            self.in_flight.discard(webhook_id)
            record["answered"] = time.time()
        return status

    def accepted(self) -> list[dict]:
        with self.lock:
            return [r for r in self.received if 200 <= r["status"] < 300]

    def wait_for(self, predicate, timeout: float = 20) -> list[dict]:
        with self.lock:
            assert self.lock.wait_for(lambda: predicate(self.received), timeout), \
                f"receiver: condition not met; got {[(r['type'], r['status']) for r in self.received]}"
            return list(self.received)

    def types(self) -> list[str]:
        return [r["type"] for r in self.accepted()]

    def close(self) -> None:
        self.hold.set()
        self.server.shutdown()
        self.server.server_close()
