"""Two set-user calls for one user at once, on two processes: the result is one serial order (issue 19, 1).

Call A changes the name, email and attrs and sends the organizations the user already has (the
attrs-only UPDATE); call B changes the name and attrs and sends new organizations (the locked
path). Whatever the timing, the stored user is A then B, or B then A: never A's attrs with B's
organizations.
"""
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from webapp import create_app
from webapp.extensions import db
from webapp.models import EndUser

from .servers import Server
from .test_concurrency import SECRET_KEY, post_json, setup_tenant

TRIALS = 100
OLD_ORGS = [{"id": "org-old", "name": "Old"}]
NEW_ORGS = [{"id": "org-new-1", "name": "New 1"}, {"id": "org-new-2", "name": "New 2"}]


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'serial.sqlite3'}"
    return request.getfixturevalue("postgres_url")


def calls(n: int) -> tuple[dict, dict]:
    a = {"id": f"user-{n}", "name": f"A{n}", "email": f"a{n}@example.com", "attrs": {"by": "A", "n": n},
         "organizations": OLD_ORGS}
    b = {"id": f"user-{n}", "name": f"B{n}", "attrs": {"by": "B", "n": n}, "organizations": NEW_ORGS}
    return a, b


def serial_outcomes(n: int) -> list[tuple]:
    """The stored user after A then B, and after B then A (B sends no email: it keeps A's)."""
    a, b = calls(n)
    a_then_b = (b["name"], a["email"], b["attrs"], [o["id"] for o in NEW_ORGS])
    b_then_a = (a["name"], a["email"], a["attrs"], [o["id"] for o in OLD_ORGS])
    return [a_then_b, b_then_a]


def test_conflicting_set_user_pairs_on_two_processes_leave_one_serial_order(database_url, tmp_path):
    tenant_id, _kid, _secret = setup_tenant(database_url, tmp_path)
    env = {"SIGNET_DATABASE_URL": database_url, "SIGNET_SECRET_KEY": SECRET_KEY}
    servers = [Server(env, workers=1, threads=8), Server(env, workers=1, threads=8)]
    urls = [f"{s.url}/api/v1/widget/{tenant_id}/set-user" for s in servers]
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:  # every user starts with the old organization
            created = list(pool.map(lambda n: post_json(urls[n % 2], {
                "id": f"user-{n}", "name": "start", "attrs": {"by": "start"}, "organizations": OLD_ORGS}), range(TRIALS)))
        assert {status for status, _ in created} == {200}, created[:3]

        def pair(n: int) -> list[tuple[int, dict]]:
            a, b = calls(n)
            start = threading.Barrier(2)

            def fire(url, body):
                start.wait()
                return post_json(url, body)

            with ThreadPoolExecutor(max_workers=2) as both:
                return list(both.map(fire, urls, [a, b]))

        with ThreadPoolExecutor(max_workers=4) as pool:
            answers = list(pool.map(pair, range(TRIALS)))
    finally:
        for server in servers:
            server.stop()
    assert all(status == 200 for pair_answers in answers for status, _ in pair_answers), answers[:3]
    for server in servers:
        assert "Traceback" not in server.output()

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "SECRET_KEY": SECRET_KEY}, instance_path=str(tmp_path))
    with app.app_context():
        users = {u.external_id: u for u in db.session.scalars(select(EndUser).where(EndUser.anonymous.is_(False)))}
        mixed = []
        for n in range(TRIALS):
            user = users[f"user-{n}"]
            state = (user.name, user.email, user.attrs, [m.organization.external_id for m in user.memberships])
            if state not in serial_outcomes(n):
                mixed.append((n, state))
            assert not user.verified and not user.email_verified  # unsigned data vouches for nothing
        db.session.remove()
        db.engine.dispose()
    assert not mixed, f"{len(mixed)} of {TRIALS} users hold a state no serial order gives: {mixed[:3]}"
