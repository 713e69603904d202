"""PostgreSQL: a set-user call that changes no organization itself writes the user and their
memberships in one statement sent alone (org_lists.update_with_list), and stores exactly what
the locked path (update_and_lock, then replace_list) stores for the same calls. A call that
would create, rename, re-describe or newly sign an organization, or that unsigned data may not
make, writes nothing there and is decided by the locked path (the refusal of unsigned data
joining a signed organization, through either: test_org_list_writes.py).
"""
from __future__ import annotations

import threading
import time

import psycopg
import pytest
from sqlalchemy import select, text

from webapp.extensions import db
from webapp.models import Organization
from webapp.services.end_users import org_lists

from .conftest import assert_error, identify, make_tenant, set_user
from .test_org_list_writes import stored

pytestmark = pytest.mark.postgres

# Each scenario: the calls in order, a body or ("signed", claims). Every call after the first
# changes the memberships only, so the one statement decides it.
SCENARIOS = {
    "unsigned joins, leaves and moves among existing organizations": [
        {"id": "u", "name": "A", "organizations": [{"id": "a", "name": "A"}, {"id": "b", "name": "B"}]},
        {"id": "other", "organizations": [{"id": "c", "name": "C"}, {"id": "d", "name": "D"}]},
        {"id": "u", "name": "A2", "attrs": {"n": 1},
         "organizations": [{"id": "c", "name": "C"}, {"id": "a", "name": "A"}]},
        {"id": "u", "name": "A3", "organizations": [{"id": "a", "name": "A"}]},
        {"id": "u", "name": "A4", "organizations": []},
    ],
    "attrs as stored, in any script, and attrs left out": [
        {"id": "other", "organizations": [
            {"id": "x", "name": "X", "attrs": {"é": 1.5, "big": 9007199254740993, "t": True, "none": None,
                                               "s": "a\u2028b \"q\" \\"}},
            {"id": "y", "name": "Y", "attrs": {"tier": 2}}]},
        {"id": "u", "name": "A", "organizations": [
            {"id": "x", "name": "X", "attrs": {"é": 1.5, "big": 9007199254740993, "t": True, "none": None,
                                               "s": "a\u2028b \"q\" \\"}}]},
        {"id": "u", "name": "B", "organizations": [{"id": "y", "name": "Y"}, {"id": "x", "name": "X"}]},
        {"id": "u", "name": "C", "organizations": [
            {"id": "x", "name": "X", "attrs": {"é": 1.5, "big": 9007199254740993, "t": True, "none": None,
                                               "s": "a\u2028b \"q\" \\"}},
            {"id": "y", "name": "Y", "attrs": {"tier": 2}}]},
    ],
    "signed data among organizations signed already": [
        ("signed", {"id": "vera", "organizations": [{"id": "s1", "name": "S1"}, {"id": "s2", "name": "S2"}]}),
        ("signed", {"id": "u", "name": "A", "organizations": [{"id": "s1", "name": "S1"}]}),
        ("signed", {"id": "u", "name": "B", "organizations": [{"id": "s2", "name": "S2"}, {"id": "s1", "name": "S1"}]}),
    ],
    "unsigned data keeps a signed organization it is a member of": [
        {"id": "u", "name": "A", "organizations": [{"id": "s", "name": "S"}]},
        ("signed", {"id": "vera", "organizations": [{"id": "s", "name": "S"}]}),  # s is signed from now on
        {"id": "other", "organizations": [{"id": "p", "name": "P"}]},
        {"id": "u", "name": "B", "organizations": [{"id": "s", "name": "S"}, {"id": "p", "name": "P"}]},
        {"id": "u", "name": "C", "organizations": [{"id": "p", "name": "P"}, {"id": "s", "name": "S"}]},
    ],
}


def _run(app, ed_key, calls: list) -> tuple[list, dict, list]:
    """(each answer's user without lastSeenAt, the users' stored names and lists, the organizations)."""
    tenant = make_tenant(app, ed_key)
    client = tenant.api_client()
    answers = []
    for body in calls:
        if isinstance(body, tuple):
            body = {"jwt": tenant.sign(body[1], "EdDSA")}
        user = identify(client, body)["user"]
        answers.append({k: v for k, v in user.items() if k != "lastSeenAt"})
    ids = sorted({a["id"] for a in answers})
    with app.app_context():
        orgs = [tuple(r) for r in db.session.execute(
            select(Organization.external_id, Organization.name, text("CAST(organization.attrs AS TEXT)"),
                   Organization.signed).where(Organization.tenant_id == tenant.id).order_by(Organization.external_id))]
    return answers, {i: stored(app, i) for i in ids}, orgs


@pytest.fixture
def decided(monkeypatch) -> list[bool]:
    """Whether each one statement sent decided its call (False: nothing written, the locked path's)."""
    real = org_lists.update_with_list
    outcomes = []

    def recording(*args, **kwargs):
        outcome = real(*args, **kwargs)
        outcomes.append(outcome[0])
        return outcome

    monkeypatch.setattr(org_lists, "update_with_list", recording)
    return outcomes


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_the_one_statement_stores_what_the_locked_path_stores(postgres_app, ed_key, monkeypatch, decided, scenario):
    one_statement = _run(postgres_app, ed_key, SCENARIOS[scenario])
    assert decided and all(decided), decided  # every membership-only call was the one statement's
    monkeypatch.setattr(org_lists, "update_with_list", lambda *args, **kwargs: (False, None, ()))
    assert one_statement == _run(postgres_app, ed_key, SCENARIOS[scenario])  # the locked path's


def test_a_change_to_an_organization_is_the_locked_paths(postgres_app, ed_key, decided):
    """Created, renamed, given new attrs or newly signed: the one statement writes nothing (or,
    when the read already shows the change, is not sent) and the locked path writes it whole."""
    tenant = make_tenant(postgres_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "other", "organizations": [{"id": "b", "name": "B", "attrs": {"k": 1}}]})
    identify(client, {"id": "u", "name": "A", "organizations": [{"id": "a", "name": "A"}]})
    steps = [  # (the list sent, what the one statement decided: [] when the read shows the change)
        ([{"id": "a", "name": "A"}, {"id": "new", "name": "New"}], [False]),  # created
        ([{"id": "a", "name": "A"}, {"id": "b", "name": "B2"}], [False]),  # renamed, joined at once
        ([{"id": "a", "name": "A"}, {"id": "b", "name": "B2", "attrs": {"k": True}}], []),  # true is not 1
    ]
    for orgs, expected in steps:
        decided.clear()
        answer = identify(client, {"id": "u", "organizations": orgs})
        assert [o["id"] for o in answer["user"]["organizations"]] == [o["id"] for o in orgs]
        assert decided == expected, (orgs, decided)
    assert stored(postgres_app, "u")[1] == [("a", "A", {}, False, False), ("b", "B2", {"k": True}, False, False)]
    assert isinstance(stored(postgres_app, "u")[1][1][2]["k"], bool)
    decided.clear()
    identify(client, {"jwt": tenant.sign({"id": "u", "organizations": [{"id": "a", "name": "A"}]}, "EdDSA")})
    assert decided == []  # the read shows a not signed yet: the locked path at once, and it signs a
    assert stored(postgres_app, "u")[1] == [("a", "A", {}, True, True)]


def test_an_organization_deleted_while_the_statement_runs_leaves_nothing_half_written(postgres_app, ed_key):
    """The statement reads the organization, updates the user, and its membership insert then
    waits for another transaction deleting that organization: when that one commits, the insert
    breaks the foreign key, the statement is undone whole, and the locked path makes the
    organization again and the list complete."""
    tenant = make_tenant(postgres_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "other", "organizations": [{"id": "b", "name": "B"}]})
    identify(client, {"id": "u", "name": "A", "organizations": [{"id": "a", "name": "A"}]})
    with postgres_app.app_context():
        old_b = db.session.scalar(select(Organization.id).where(Organization.external_id == "b"))
    url = postgres_app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    deleting = psycopg.connect(url)
    deleting.execute("DELETE FROM organization WHERE id = %s", (old_b,))  # held, not committed
    waited = threading.Event()

    def commit_once_waited_for():
        for _ in range(200):  # until the set-user statement waits for this transaction's lock
            with psycopg.connect(url, autocommit=True) as watcher:
                if watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
                    waited.set()
                    break
            time.sleep(0.02)
        deleting.commit()

    committer = threading.Thread(target=commit_once_waited_for)
    committer.start()
    try:
        answer = identify(client, {"id": "u", "name": "B", "organizations": [{"id": "a", "name": "A"},
                                                                             {"id": "b", "name": "B"}]})
    finally:
        committer.join()
        deleting.close()
    assert waited.is_set()
    assert [o["id"] for o in answer["user"]["organizations"]] == ["a", "b"]
    assert stored(postgres_app, "u") == ("B", [("a", "A", {}, False, False), ("b", "B", {}, False, False)])
    with postgres_app.app_context():
        assert db.session.scalar(select(Organization.id).where(Organization.external_id == "b")) != old_b


def _in_thread(call) -> tuple[threading.Thread, list]:
    answers: list = []
    thread = threading.Thread(target=lambda: answers.append(call()))
    thread.start()
    return thread, answers


def _until_a_lock_is_waited_for(url: str) -> None:
    with psycopg.connect(url, autocommit=True) as watcher:
        for _ in range(250):
            if watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
                return
            time.sleep(0.02)
    raise AssertionError("the set-user statement never waited for the lock held")


def _org_ids(app, *external_ids: str) -> list[int]:
    with app.app_context():
        found = dict(db.session.execute(select(Organization.external_id, Organization.id)).all())
    return [found[external_id] for external_id in external_ids]


def test_organizations_are_locked_in_id_order_after_the_user(postgres_app, ed_key, decided):
    """The organizations joined are locked in id order whatever the list's order, as every path
    locks them: a transaction holding the lower one and then asking for the higher one is not
    deadlocked with the one statement waiting for the lower one (it would be, had the statement
    taken the higher one first, as its foreign-key checks do in the list's order)."""
    tenant = make_tenant(postgres_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "other", "organizations": [{"id": "low", "name": "Low"}]})
    identify(client, {"id": "other", "organizations": [{"id": "low", "name": "Low"}, {"id": "high", "name": "High"}]})
    identify(client, {"id": "u", "name": "A"})
    low, high = _org_ids(postgres_app, "low", "high")
    assert low < high
    decided.clear()
    url = postgres_app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as holder:
        holder.execute("SET lock_timeout = '5s'")
        holder.execute("SELECT id FROM organization WHERE id = %s FOR UPDATE", (low,))
        thread, answers = _in_thread(lambda: set_user(client, {"id": "u", "name": "B", "organizations": [
            {"id": "high", "name": "High"}, {"id": "low", "name": "Low"}]}))
        try:
            _until_a_lock_is_waited_for(url)
            holder.execute("SELECT id FROM organization WHERE id = %s FOR UPDATE", (high,))  # not held by set-user
            holder.commit()
        finally:
            thread.join()
    assert answers[0].status_code == 200, answers[0].get_json()
    assert decided == [True]
    assert stored(postgres_app, "u") == ("B", [("high", "High", {}, False, False), ("low", "Low", {}, False, False)])


def test_an_organization_signed_while_the_statement_waits_refuses_the_unsigned_join(postgres_app, ed_key):
    """Unsigned data joins an organization that was unsigned when the statement began; a signed
    call that holds it commits its signing while the statement waits: the organization is
    checked again as it now is, and the join is refused (API.md §9), nothing of the call stored."""
    tenant = make_tenant(postgres_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "other", "organizations": [{"id": "x", "name": "X"}]})
    identify(client, {"id": "u", "name": "A"})
    [x] = _org_ids(postgres_app, "x")
    url = postgres_app.config["SQLALCHEMY_DATABASE_URI"].replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as signer:  # as the locked path signs: the row FOR UPDATE, then the UPDATE
        signer.execute("SELECT id FROM organization WHERE id = %s FOR UPDATE", (x,))
        signer.execute("UPDATE organization SET signed = true WHERE id = %s", (x,))
        thread, answers = _in_thread(lambda: set_user(client, {"id": "u", "name": "Mallory",
                                                               "organizations": [{"id": "x", "name": "X"}]}))
        try:
            _until_a_lock_is_waited_for(url)
            signer.commit()
        finally:
            thread.join()
    assert_error(answers[0], 403, "verification_required", "organizations[0].id")
    assert stored(postgres_app, "u") == ("A", [])


@pytest.mark.parametrize("error, status", [(psycopg.errors.DeadlockDetected, 200), (psycopg.errors.QueryCanceled, 503)])
def test_a_deadlock_victim_takes_the_locked_path_and_other_errors_stay_errors(postgres_app, ed_key, monkeypatch,
                                                                                error, status):
    """The one statement chosen as a deadlock's victim (undone whole by the server) leaves the
    call to the locked path, which writes it; any other error the statement meets (here a
    statement timeout) is the call's answer, 503, with nothing stored."""
    from sqlalchemy.exc import OperationalError

    tenant = make_tenant(postgres_app, ed_key)
    client = tenant.api_client()
    identify(client, {"id": "other", "organizations": [{"id": "b", "name": "B"}]})
    identify(client, {"id": "u", "name": "A", "organizations": [{"id": "a", "name": "A"}]})
    before = stored(postgres_app, "u")
    real, raised = org_lists._on_psycopg, []

    def failing_once(connection, sql, values):
        if not raised and sql.startswith("WITH wanted"):  # the one statement, not the locked path's
            raised.append(sql)
            raise OperationalError(sql, values, error("as the server reports it"))
        return real(connection, sql, values)

    monkeypatch.setattr(org_lists, "_on_psycopg", failing_once)
    response = set_user(client, {"id": "u", "name": "B", "organizations": [{"id": "a", "name": "A"},
                                                                         {"id": "b", "name": "B"}]})
    assert raised and response.status_code == status, response.get_json()
    if status == 200:
        assert stored(postgres_app, "u") == ("B", [("a", "A", {}, False, False), ("b", "B", {}, False, False)])
    else:
        assert_error(response, 503, "service_unavailable")
        assert stored(postgres_app, "u") == before
