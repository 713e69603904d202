"""The login throttle under concurrency (issue 20 finding 9): 40 wrong guesses at once against
gunicorn with three workers, on the default store. Each attempt is counted before its password is
checked, in a store all workers share, so at most 10 are checked and the rest answer 429."""
from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from webapp.extensions import db
from webapp.services.workspace import tenants

from .conftest import PASSWORD
from .helpers import csrf_of
from .servers import HttpClient, Server, migrated_app

SECRET_KEY = "login-throttle-secret"
GUESSES = 40


@pytest.fixture
def server(tmp_path):
    url, app = migrated_app(tmp_path, SECRET_KEY, "throttle.sqlite3")
    with app.app_context():
        tenants.create_tenant("Guarded", "guarded@example.com", PASSWORD)
        db.session.remove()
        db.engine.dispose()
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY}, workers=3, threads=16)
    yield server
    server.stop()


def test_forty_concurrent_wrong_guesses_check_at_most_ten(server):
    browsers = []
    for _ in range(GUESSES):  # each with its own session and CSRF token, as separate browsers
        browser = HttpClient(server.url)
        browsers.append((browser, csrf_of(browser.get("/login"))))
    start = threading.Barrier(GUESSES)

    def guess(pair, i):
        browser, token = pair
        start.wait()
        return browser.post_form("/login", {"email": "guarded@example.com", "password": f"wrong guess {i}!!",
                                            "csrf_token": token})

    with ThreadPoolExecutor(GUESSES) as pool:
        results = list(pool.map(guess, browsers, range(GUESSES)))
    statuses = [status for status, _ in results]
    checked = statuses.count(401)
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= checked <= 10, statuses
    # A refused guess is counted back, so a burst can end with fewer than 10 counted (the last
    # ones all refused while others were still in flight): the guesses left up to 10 are checked,
    # one by one, and then the address is locked, even for the right password.
    for i in range(10 - checked):
        browser = HttpClient(server.url)
        status, _ = browser.post_form("/login", {"email": "guarded@example.com", "password": f"late guess {i}!!",
                                                "csrf_token": csrf_of(browser.get("/login"))})
        assert status == 401, (i, checked, statuses)
    browser = HttpClient(server.url)
    status, _ = browser.post_form("/login", {"email": "guarded@example.com", "password": PASSWORD,
                                            "csrf_token": csrf_of(browser.get("/login"))})
    assert status == 429
