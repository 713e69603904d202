"""The verification samples Settings → Webhooks shows run as printed (python with standardwebhooks,
node with the pinned `standardwebhooks` package of tests/samples): each accepts a real signed
delivery from the worker and refuses an unsigned one (400)."""
from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Delivery
from webapp.services.webhooks import endpoints
from webapp.services.webhooks.worker import drain
from webapp.services.workspace import tenants

from ..servers import free_port
from ..test_samples import NODE_MODULES, codes
from .test_pages import owner

RUN = {"python": ("receiver.py", [sys.executable, "receiver.py"]), "node": ("receiver.cjs", ["node", "receiver.cjs"])}


def wait_listening(port: int, process: subprocess.Popen) -> None:
    deadline = time.time() + 20
    while time.time() < deadline:
        assert process.poll() is None, process.stdout.read()
        try:
            urllib.request.urlopen(urllib.request.Request(f"http://127.0.0.1:{port}/", data=b"{}", method="POST"),
                                   timeout=1)
        except urllib.error.HTTPError:
            return  # it answered (400: unsigned)
        except OSError:
            time.sleep(0.1)
    raise AssertionError("the sample did not start")


@pytest.mark.parametrize("language", ["python", "node"])
def test_webhook_sample_verifies_a_real_delivery(app, tenant, tmp_path, language):
    page = owner(app, tenant).get("/settings/webhooks").get_data(as_text=True)
    code = codes(page)[f"webhook-sample-{language}"]
    name, command = RUN[language]
    (tmp_path / name).write_text(code + "\n")
    (tmp_path / "node_modules").symlink_to(NODE_MODULES)
    port = free_port()
    with app.app_context():
        endpoint, secret = endpoints.add(tenants.get_tenant(tenant.public_id), f"http://127.0.0.1:{port}/")
        endpoint_id = endpoint.public_id
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                               env={**os.environ, "SIGNET_WEBHOOK_SECRET": secret, "PORT": str(port)})
    try:
        wait_listening(port, process)
        with app.app_context():
            endpoints.send_test(tenants.get_tenant(tenant.public_id), endpoint_id)
        drain(app)
        with app.app_context():
            assert db.session.scalar(select(Delivery.state)) == "delivered"
    finally:
        process.terminate()
        output = process.communicate(timeout=10)[0]
    assert "webhook.test" in output and "evt_" in output, output
