"""The hosted page's writes on PostgreSQL: one-time links under concurrency, seats, races on a new user."""
from __future__ import annotations

import threading

import pytest


from ..helpers import csrf_of
from .conftest import add_signed_user, configure, stored_counts, user_count, user_row
from .test_email_signin import ask, confirm, link_in

pytestmark = pytest.mark.postgres


@pytest.fixture
def app(postgres_app):
    return postgres_app


def race(app, path: str, clients: int = 8) -> list[int]:
    """POST the confirmation from several browsers at once; their statuses."""
    browsers = [app.test_client() for _ in range(clients)]
    tokens = [csrf_of(b.get(path).get_data(as_text=True)) for b in browsers]
    barrier, results = threading.Barrier(clients), []

    def click(browser, token):
        barrier.wait()
        results.append(browser.post(path, data={"csrf_token": token}).status_code)

    threads = [threading.Thread(target=click, args=pair) for pair in zip(browsers, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sorted(results)


def test_login_links_and_seats(app, client, tenant):
    configure(app, tenant, seat_limit=1)
    assert client.get(tenant.link({"user": {"id": "u-1"}, "jti": "one"})).status_code == 303
    assert user_row(app, tenant, "u-1").verified_via == "login_link"
    before = stored_counts(app)
    assert client.get(tenant.link({"user": {"id": "u-2"}})).status_code == 403
    assert stored_counts(app) == before


def test_a_mailed_link_signs_in_once_under_a_race(app, client, tenant, smtp):
    add_signed_user(app, tenant, "u-jane", email="jane@example.com", name="Jane")  # her email is proven
    ask(client, tenant, "jane@example.com")
    path, _ = link_in(smtp.wait_for(1)[0])
    assert race(app, path) == [303] + [410] * 7


def test_two_links_for_one_new_address_create_one_user(app, client, tenant, smtp):
    configure(app, tenant, email_sign_in="create")
    for _ in range(2):
        ask(client, tenant, "new@example.com")
    paths = [link_in(m)[0] for m in smtp.wait_for(2)]
    browsers = [app.test_client() for _ in paths]
    tokens = [csrf_of(b.get(p).get_data(as_text=True)) for b, p in zip(browsers, paths)]
    barrier, results = threading.Barrier(2), []

    def click(browser, path, token):
        barrier.wait()
        results.append(browser.post(path, data={"csrf_token": token}).status_code)

    threads = [threading.Thread(target=click, args=args) for args in zip(browsers, paths, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [303, 303] and user_count(app, tenant) == 1


def test_create_mode_at_the_seat_limit(app, client, tenant, smtp):
    configure(app, tenant, email_sign_in="create", seat_limit=0)
    ask(client, tenant, "new@example.com")
    path, _ = link_in(smtp.wait_for(1)[0])
    assert confirm(client, path).status_code == 403 and user_count(app, tenant) == 0
