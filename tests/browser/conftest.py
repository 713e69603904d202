"""Browser fixtures: Signet under gunicorn, customer pages on another origin, Debian's Chromium."""
from __future__ import annotations

import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from ..chromium import browser, page  # noqa: F401  (fixtures for every browser test)
from ..factories import Workspace, make_workspace
from ..servers import Server, migrated_app

SECRET_KEY = "browser-test-secret-key"
# The snippet's stub exactly as API.md §2 gives it (Promises before the loader), and the earlier
# stub that pages copied before it (queue entries without Promises): both must keep working.
STUB = ('<script>window.signet=window.signet||(function(q){function c(m){return function(a,b){return new '
        'Promise(function(s,f){q.push([m,a,b,s,f])})}}return{_q:q,setUser:c("setUser"),logout:c("logout"),'
        'on:function(e,f){q.push(["on",e,f])}}})([]);</script>')
OLD_STUB = ('<script>window.signet=window.signet||{_q:[],setUser:function(u){this._q.push(["setUser",u])},'
            'logout:function(){this._q.push(["logout"])}};</script>')


class CustomerSite:
    """A customer's web app on http://localhost:<port>: pages registered by the test."""

    def __init__(self):
        pages = self.pages = {}

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                if self.path == "/favicon.ico":
                    self.send_response(204)
                    self.end_headers()
                    return
                body = pages.get(self.path.split("?")[0])
                self.send_response(200 if body is not None else 404)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.end_headers()
                self.wfile.write((body or "not found").encode())

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.origin = f"http://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def page(self, html: str) -> str:
        path = f"/{uuid.uuid4().hex}.html"
        self.pages[path] = html
        return self.origin + path


class Signet:
    """The Signet server plus direct access to its database for setup and assertions."""

    def __init__(self, tmp_path):
        url, self.app = migrated_app(tmp_path, SECRET_KEY, "browser.sqlite3", SIGNET_RATELIMIT=None)
        self.server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY})
        self.url = self.server.url

    def tenant(self, origins: list[str], **settings) -> "TenantHandle":
        return TenantHandle(self, make_workspace(self.app, "Shop", allowed_origins=origins, **settings))


class TenantHandle:
    """A workspace (tests/factories.py) on the served Signet: its snippet and its users' tokens."""

    def __init__(self, signet, workspace: Workspace):
        self.signet, self.workspace = signet, workspace
        self.id, self.public_id, self.owner = workspace.id, workspace.public_id, workspace.owner
        self.secret, self.kid = workspace.secret, workspace.secret_kid

    def token(self, user_id: str, **claims) -> str:
        body = {"id": user_id, "name": f"User {user_id}", "email": f"{user_id}@example.com",
                "exp": int(time.time()) + 600, **claims}
        return self.workspace.sign(body)

    def snippet(self, extra_attrs: str = "", stub: str = STUB) -> str:
        return (stub + f'<script async src="{self.signet.url}/static/widget/signet.js" '
                f'data-tenant="{self.public_id}" {extra_attrs}></script>')


@pytest.fixture(scope="module")
def signet(tmp_path_factory):
    handle = Signet(tmp_path_factory.mktemp("signet"))
    yield handle
    handle.server.stop()


@pytest.fixture(scope="module")
def site():
    customer = CustomerSite()
    yield customer
    customer.server.shutdown()

