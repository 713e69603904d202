"""Webhook tests: an app allowed to call 127.0.0.1, a receiver, and an endpoint pointing at it."""
from __future__ import annotations

import json

import pytest

from ..conftest import provision
from .receiver import Receiver


@pytest.fixture(autouse=True)
def _private_urls(app, cheap_passwords):
    app.config.update(SIGNET_ALLOW_PRIVATE_URLS=True, SIGNET_WEBHOOK_BACKOFF_SCALE=0.01)


@pytest.fixture
def receiver():
    made = Receiver()
    yield made
    made.close()


@pytest.fixture
def tenant(app, ed_key):
    return provision(app, ed_key, "Hooks")


def cli(app, *args: str):
    """`signet …` through Click's runner: (exit code, parsed JSON or the output)."""
    result = app.test_cli_runner().invoke(args=["signet", *args])
    try:
        return result.exit_code, json.loads(result.stdout)
    except ValueError:
        return result.exit_code, result.output


def add_endpoint(app, tenant, receiver, *events: str) -> dict:
    args = ["webhook", "add", tenant.public_id, "--url", receiver.url]
    for event in events:
        args += ["--event", event]
    code, out = cli(app, *args)
    assert code == 0, out
    receiver.secret = out["secret"]
    return out
