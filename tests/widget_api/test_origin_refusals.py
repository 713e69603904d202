"""Refused origins: recorded in the rejection log (preflight included), bounded under a flood, shown
on the token debugger and the Install page, and allowed in one click by owners and admins only."""
from __future__ import annotations

import time

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Rejection, Tenant
from webapp.services.keys import origin_refusals

from ..conftest import PASSWORD, Factory
from ..helpers import csrf_of, login
from .conftest import ORIGIN, assert_error, call, settings

EVIL = "https://evil.example"


def preflight(client, origin, path="set-user"):
    return call(client, "OPTIONS", path, origin=origin,
                headers={"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"})


def origin_rows(app, tenant) -> list[tuple[str, str]]:
    with app.app_context():
        rows = db.session.execute(select(Rejection.origin, Rejection.message).where(
            Rejection.tenant_id == tenant.id, Rejection.code == "origin_not_allowed")).all()
        return [tuple(r) for r in rows]


def test_a_refused_preflight_is_recorded_once_per_origin_per_minute(app, client, tenant):
    settings(app, tenant, allowed_origins=[ORIGIN])
    assert_error(preflight(client, EVIL), 403, "origin_not_allowed")
    assert_error(call(client, "POST", "set-user", {"id": None}, origin=EVIL), 403, "origin_not_allowed")
    assert_error(call(client, "GET", "conversations", origin=EVIL), 403, "origin_not_allowed")
    rows = origin_rows(app, tenant)
    assert [r[0] for r in rows] == [EVIL]
    assert "preflight" in rows[0][1] and "set-user" in rows[0][1]
    assert preflight(client, ORIGIN).status_code == 204  # an allowed origin is never recorded
    assert len(origin_rows(app, tenant)) == 1


def test_another_process_does_not_record_the_same_origin_again_within_a_minute(app, client, tenant):
    """The database check covers what one process's memory cannot see."""
    settings(app, tenant, allowed_origins=[ORIGIN])
    assert_error(preflight(client, EVIL), 403, "origin_not_allowed")
    app.extensions.pop("signet_origin_refusals")  # as a second process would start, with no memory
    assert_error(preflight(client, EVIL), 403, "origin_not_allowed")
    assert len(origin_rows(app, tenant)) == 1


def test_a_flood_of_distinct_origins_leaves_a_bounded_log(app, client, tenant):
    settings(app, tenant, allowed_origins=[ORIGIN])
    origins = [f"https://flood{i}.example" for i in range(200)]
    for n in range(1000):
        assert preflight(client, origins[n % 200]).status_code == 403
    rows = origin_rows(app, tenant)
    assert 1 <= len(rows) <= origin_refusals.PER_MINUTE
    assert len({r[0] for r in rows}) == len(rows)  # never the same origin twice


def test_over_many_minutes_only_the_newest_origin_refusals_are_kept(app, tenant):
    start = time.time()
    with app.test_request_context():
        info = db.session.get(Tenant, tenant.id)
        for minute in range(12):
            for i in range(30):
                origin_refusals.record(info, f"https://m{minute}-{i}.example", "OPTIONS", "/x", now=start + 61 * minute)
        db.session.rollback()  # a fresh snapshot: each refusal was written apart, on its own connection
        total = db.session.scalar(select(func.count()).select_from(Rejection).where(Rejection.tenant_id == tenant.id))
    assert total == origin_refusals.KEEP


def test_an_origin_refusal_does_not_push_out_token_refusals_beyond_its_share(app, client, tenant):
    settings(app, tenant, allowed_origins=[ORIGIN])
    assert_error(call(client, "POST", "set-user", {"jwt": "not-a-token"}, origin=ORIGIN), 401, "token_malformed")
    for i in range(50):
        preflight(client, f"https://other{i}.example")
    with app.app_context():
        codes = list(db.session.scalars(select(Rejection.code).where(Rejection.tenant_id == tenant.id)))
    assert "token_malformed" in codes


def owner_of(app, tenant):
    client = app.test_client()
    assert login(client, tenant.owner, PASSWORD).status_code == 302
    return client


def test_debugger_and_install_page_show_the_refused_origin_and_allow_it(app, client, tenant):
    settings(app, tenant, allowed_origins=[ORIGIN])
    preflight(client, EVIL)
    owner = owner_of(app, tenant)
    debugger = owner.get("/settings/debugger").get_data(as_text=True)
    assert "Refused origins" in debugger and EVIL in debugger and "Allow this origin" in debugger
    install = owner.get("/settings/install").get_data(as_text=True)
    assert 'id="live-origin"' in install and EVIL in install and "Allow this origin" in install
    live = owner.get("/settings/install/last.json").get_json()
    assert live["origin"]["origin"] == EVIL and live["origin"]["allow"] is True
    assert live["refusal"] is None  # the token line stays about tokens
    # Without the CSRF token: refused, nothing changes.
    assert owner.post("/settings/install/allow-origin", data={"origin": EVIL}).status_code == 400
    assert_error(preflight(client, EVIL), 403, "origin_not_allowed")
    response = owner.post("/settings/install/allow-origin",
                          data={"origin": EVIL, "back": "debugger", "csrf_token": csrf_of(debugger)})
    assert response.status_code == 302 and response.headers["Location"].endswith("/settings/debugger")
    with app.app_context():
        assert db.session.get(Tenant, tenant.id).allowed_origins == [ORIGIN, EVIL]
    allowed = preflight(client, EVIL)
    assert allowed.status_code == 204 and allowed.headers["Access-Control-Allow-Origin"] == EVIL
    assert owner.get("/settings/install/last.json").get_json()["origin"] is None
    assert "Allow this origin" not in owner.get("/settings/debugger").get_data(as_text=True)


def test_agents_cannot_allow_an_origin(app, client, tenant):
    settings(app, tenant, allowed_origins=[ORIGIN])
    preflight(client, EVIL)
    email = Factory(app).member(tenant, "agent")
    agent = app.test_client()
    assert login(agent, email, PASSWORD).status_code == 302
    token = csrf_of(agent.get("/inbox").get_data(as_text=True))
    assert agent.post("/settings/install/allow-origin", data={"origin": EVIL, "csrf_token": token}).status_code == 403
    assert agent.get("/settings/install/last.json").status_code == 403
    with app.app_context():
        assert db.session.get(Tenant, tenant.id).allowed_origins == [ORIGIN]


def test_allowing_something_that_is_not_an_origin_is_a_clear_error(app, client, tenant):
    settings(app, tenant, allowed_origins=[ORIGIN])
    preflight(client, "null")
    owner = owner_of(app, tenant)
    page = owner.get("/settings/debugger").get_data(as_text=True)
    assert "<code>null</code>" in page and "Allow this origin" not in page  # no button for `null`
    response = owner.post("/settings/install/allow-origin", data={"origin": "null", "csrf_token": csrf_of(page)},
                          follow_redirects=True)
    assert response.status_code == 200 and "Not allowed:" in response.get_data(as_text=True)
    with app.app_context():
        assert db.session.get(Tenant, tenant.id).allowed_origins == [ORIGIN]
