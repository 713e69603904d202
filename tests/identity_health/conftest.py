"""Identity health tests: a workspace with an HS256 secret and an Ed25519 key, counters flushed by hand."""
from __future__ import annotations

import pytest

from webapp.services.keys import usage
from webapp.services.workspace import tenants

from ..conftest import make_app, provision


@pytest.fixture
def app(tmp_path):
    """The usual test app, with no flushing thread: a test flushes the counters itself."""
    from ..conftest import _served

    yield from _served(make_app(tmp_path, SIGNET_USAGE_FLUSH_SECONDS=0))


@pytest.fixture(autouse=True)
def _cheap_owner_passwords(cheap_passwords):
    """Owners log in rarely here: skip scrypt's deliberate cost."""


@pytest.fixture
def shop(app, ed_key):
    return provision(app, ed_key, "Shop")


def set_mode(app, shop, **settings) -> None:
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(shop.public_id), tenants.Settings(**settings))


def flush(app) -> None:
    with app.app_context():
        usage.flush()
