"""Two browsers pressing "Create my account and join" on one invitation at the same moment
(security review of the staff accounts, finding 3): one account and one membership, the other
request a clear refusal, never a 500 (on PostgreSQL the loser used to hit the unique email index
and raise IntegrityError). Threads with the Flask test client on SQLite and PostgreSQL."""
from __future__ import annotations

import re
import threading

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Member, Membership
from webapp.services.workspace import invitations, members, tenants
from webapp.infra import mailer

from .conftest import PASSWORD
from .helpers import csrf_of

ROUNDS, RACERS = 6, 3


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def any_app(request, tmp_path):
    if request.param == "sqlite":
        return request.getfixturevalue("app")
    return request.getfixturevalue("postgres_app")


def _workspace(app) -> str:
    with app.app_context():
        return tenants.create_tenant("Race", "owner@race.example", PASSWORD).public_id


def _invite(app, sent: list, workspace: str, email: str) -> str:
    with app.app_context():
        tenant = tenants.get_tenant(workspace)
        owner = members.find_member("owner@race.example")
        invitations.invite(tenant, email, "agent", owner, "owner", link_base="http://localhost")
    return re.search(r"/invitations/([A-Za-z0-9_-]+)", sent[-1]).group(1)


def _race(app, token: str) -> list:
    """RACERS browsers, each with the invitation page open, post at once; their answers."""
    clients = [app.test_client() for _ in range(RACERS)]
    tokens = [csrf_of(c.get(f"/invitations/{token}").get_data(as_text=True)) for c in clients]
    barrier, answers = threading.Barrier(RACERS), []

    def press(client, csrf):
        barrier.wait()
        try:
            response = client.post(f"/invitations/{token}/signup", data={"csrf_token": csrf, "password": PASSWORD})
            answers.append(response.status_code)
        except Exception as error:  # noqa: BLE001  TESTING propagates what production answers as 500
            answers.append(type(error).__name__)

    threads = [threading.Thread(target=press, args=pair) for pair in zip(clients, tokens)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    return answers


def test_racing_sign_ups_on_one_invitation_make_one_account(any_app, monkeypatch):
    app, sent = any_app, []
    monkeypatch.setattr(mailer, "send", lambda to, subject, body, **kwargs: sent.append(body))
    workspace = _workspace(app)
    for round_ in range(ROUNDS):
        email = f"new{round_}@race.example"
        answers = _race(app, _invite(app, sent, workspace, email))
        assert len(answers) == RACERS and answers.count(302) == 1, answers
        assert all(code in (400, 410) for code in answers if code != 302), answers
        with app.app_context():
            assert db.session.scalar(select(func.count()).select_from(Member).where(Member.email == email)) == 1
            assert db.session.scalar(select(func.count()).select_from(Membership).join(Member)
                                     .where(Member.email == email)) == 1


def test_an_account_made_meanwhile_answers_the_conflict_not_500(app, monkeypatch):
    """The address gets an account by another way between the check and the insert (a sign-up
    at the same moment): the unique index refuses it and the page says so."""
    sent = []
    monkeypatch.setattr(mailer, "send", lambda to, subject, body, **kwargs: sent.append(body))
    token = _invite(app, sent, _workspace(app), "late@race.example")
    with app.app_context():
        tenants.create_tenant("Elsewhere", "late@race.example", PASSWORD)
    real_find = members.find_member
    monkeypatch.setattr(members, "find_member",
                        lambda email: None if email == "late@race.example" else real_find(email))
    client = app.test_client()
    csrf = csrf_of(client.get(f"/invitations/{token}").get_data(as_text=True))
    response = client.post(f"/invitations/{token}/signup", data={"csrf_token": csrf, "password": PASSWORD})
    assert response.status_code == 400
    assert "late@race.example already has a Signet account" in response.get_data(as_text=True)
    monkeypatch.setattr(members, "find_member", real_find)
    with app.app_context():
        row = members.find_member("late@race.example")
        assert [link.tenant.name for link in members.memberships_of(row)] == ["Elsewhere"]

