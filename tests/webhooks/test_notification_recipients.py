"""Security review: a staff notification goes only to someone who is still on the workspace's
team when it is sent (a mail queued, then retried after the member was removed, is not sent)."""
from __future__ import annotations

import socket

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import Delivery, Member, Membership
from webapp.models._types import utcnow
from webapp.services.webhooks.worker import drain
from webapp.services.workspace import members, tenants

from ..conftest import PASSWORD
from ..helpers import login, post_form


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_member_removed_before_the_mail_goes_out_gets_none(app, tenant, smtp):
    agent = "leaving-agent@example.com"
    with app.app_context():
        members.add_to_tenant(tenants.get_tenant(tenant.public_id), agent, PASSWORD, "agent")
    client = app.test_client()
    assert login(client, agent, PASSWORD).status_code == 302
    assert post_form(client, "/account/notifications", {"mode": "every", "wait_minutes": "15"}).status_code == 302
    session = tenant.set_user({"id": "n-9", "name": "Nora Private"})["session"]
    assert app.test_client().post(tenant.url("conversations"), json={"body": "My account number is 42"},
                                  headers={"Authorization": f"Bearer {session}"}).status_code == 201
    working = app.config["SIGNET_SMTP_URL"]
    app.config["SIGNET_SMTP_URL"] = f"smtp://127.0.0.1:{_closed_port()}"
    drain(app)  # the mail to the agent is queued and fails for now: it will be retried
    with app.app_context():
        queued = db.session.scalar(select(Delivery).join(Member, Member.id == Delivery.member_id)
                                   .where(Member.email == agent))
        assert queued is not None and queued.state == "pending" and queued.attempts >= 1
        membership_id = db.session.scalar(select(Membership.id).join(Member, Member.id == Membership.member_id)
                                          .where(Member.email == agent))
        db.session.remove()
    owner = app.test_client()  # the owner removes the agent from the team
    assert login(owner, tenant.owner, PASSWORD).status_code == 302
    assert post_form(owner, f"/settings/team/{membership_id}/remove", page="/settings/team").status_code == 302
    app.config["SIGNET_SMTP_URL"] = working
    with app.app_context():  # the retry is due now
        db.session.execute(update(Delivery).values(next_attempt_at=utcnow()))
        db.session.commit()
        db.session.remove()
    drain(app)  # sends synchronously: whatever was mailed has arrived
    assert [m for m in smtp.messages if m["To"] == agent] == []
    with app.app_context():
        assert db.session.scalar(select(Delivery.state).where(Delivery.id == queued.id)) == "cancelled"
