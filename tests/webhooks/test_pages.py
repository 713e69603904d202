"""Settings → Webhooks and the endpoint page (owners and admins, CSRF), and Your account →
Notifications with the mails they cause (a real SMTP server: tests/mailbox.py)."""
from __future__ import annotations

import re

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Delivery, WebhookEndpoint

from ..conftest import PASSWORD
from ..helpers import csrf_of, login, post_form
from webapp.services.webhooks.worker import drain


def owner(app, tenant):
    client = app.test_client()
    assert login(client, tenant.owner, PASSWORD).status_code == 302
    return client


def test_add_endpoint_on_the_page_shows_the_secret_once_and_test_event_arrives(app, tenant, receiver):
    client = owner(app, tenant)
    made = post_form(client, "/settings/webhooks", {"url": receiver.url, "events": ["user.created"]},
                     page="/settings/webhooks")
    assert made.status_code == 201
    page = made.get_data(as_text=True)
    receiver.secret = re.search(r'id="new-secret"[^>]*value="(whsec_[^"]+)"', page).group(1)
    listing = client.get("/settings/webhooks").get_data(as_text=True)
    assert receiver.secret not in listing and receiver.url in listing
    endpoint_id = re.search(r"/settings/webhooks/(wh_[A-Za-z0-9_-]+)", listing).group(1)
    path = f"/settings/webhooks/{endpoint_id}"
    assert client.post(f"{path}/test").status_code == 400  # no CSRF token
    sent = post_form(client, f"{path}/test", page=path)
    assert sent.status_code == 302
    drain(app)
    receiver.wait_for(lambda got: len(got) == 1)
    assert receiver.received[0]["type"] == "webhook.test" and receiver.received[0]["verified"]
    detail = client.get(path).get_data(as_text=True)
    assert "webhook.test" in detail and "HTTP 204" in detail
    with app.app_context():
        delivery_id = db.session.scalar(select(Delivery.id))
    again = post_form(client, f"{path}/deliveries/{delivery_id}/again", page=path)
    assert again.status_code == 302
    drain(app)
    receiver.wait_for(lambda got: len(got) == 2)
    assert receiver.received[1]["id"] == receiver.received[0]["id"]  # same webhook-id


def test_agents_cannot_reach_webhook_settings(as_role):
    agent = as_role("agent")
    assert agent.get("/settings/webhooks").status_code == 403


def test_https_only_on_the_page(app, tenant):
    app.config["SIGNET_ALLOW_PRIVATE_URLS"] = False
    client = owner(app, tenant)
    refused = post_form(client, "/settings/webhooks", {"url": "http://example.com/hook"}, page="/settings/webhooks")
    assert refused.status_code == 400


def test_every_new_conversation_mails_the_member_with_a_link_and_no_token(app, tenant, smtp):
    client = owner(app, tenant)
    saved = post_form(client, "/account/notifications", {"mode": "every", "wait_minutes": "15"},
                      page="/account/notifications")
    assert saved.status_code == 302
    session = tenant.set_user({"id": "n-1", "name": "Nina"})["session"]
    made = app.test_client().post(tenant.url("conversations"), json={"body": "Help please"},
                                  headers={"Authorization": f"Bearer {session}"})
    assert made.status_code == 201
    conversation = made.get_json()["conversation"]["id"] if "conversation" in made.get_json() else made.get_json()["id"]
    drain(app)
    mail = smtp.to(tenant.owner)[0]
    body = smtp.body(mail)
    assert f"/inbox/{conversation}" in body and "Nina" in body
    assert session not in body and "token" not in body.lower()


def test_waiting_longer_than_n_minutes(app, tenant, smtp):
    from datetime import timedelta

    from webapp.models import Message
    from webapp.services.webhooks import notify

    client = owner(app, tenant)
    post_form(client, "/account/notifications", {"mode": "waiting", "wait_minutes": "5"}, page="/account/notifications")
    session = tenant.set_user({"id": "n-2"})["session"]
    app.test_client().post(tenant.url("conversations"), json={"body": "Anyone?"},
                           headers={"Authorization": f"Bearer {session}"})
    with app.app_context():
        assert notify.check_waiting() == 0  # not 5 minutes yet
        message = db.session.scalar(select(Message))
        message.created_at = message.created_at - timedelta(minutes=6)
        db.session.commit()
        assert notify.check_waiting() == 1
        assert notify.check_waiting() == 0  # once per wait
    drain(app)
    mail = smtp.to(tenant.owner)[0]
    assert "Waiting for a reply" in mail["Subject"]
    assert len(smtp.messages) == 1


def test_odd_urls_on_the_page_are_refused_not_a_500(app, tenant):
    """An unclosed IPv6 bracket made urlsplit raise (a 500); a non-ASCII path was stored though
    http.client can never send it (every delivery failed)."""
    client = owner(app, tenant)
    for url in ("https://[::1/hook", "https://example.com/hook/ü"):
        refused = post_form(client, "/settings/webhooks", {"url": url}, page="/settings/webhooks")
        assert refused.status_code == 400, url
        assert "valid web address" in refused.get_data(as_text=True) or "ASCII" in refused.get_data(as_text=True)
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_send_again_with_a_huge_delivery_id_is_a_404(app, tenant, receiver):
    client = owner(app, tenant)
    post_form(client, "/settings/webhooks", {"url": receiver.url}, page="/settings/webhooks")
    listing = client.get("/settings/webhooks").get_data(as_text=True)
    path = "/settings/webhooks/" + re.search(r"/settings/webhooks/(wh_[A-Za-z0-9_-]+)", listing).group(1)
    huge = post_form(client, f"{path}/deliveries/{10**20}/again", page=path)
    assert huge.status_code == 404
