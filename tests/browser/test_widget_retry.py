"""The widget retries a send whose answer was lost, and the retry never makes a second message
(issue 19, 4): each outgoing message has one clientMessageId / Idempotency-Key, kept on retry.

Playwright lets the first POST of a conversation and of a message reach Signet (which stores it),
then cuts the connection before the browser reads the answer, as a dropped connection does.
"""
import json

import pytest
from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import Conversation, Message

from .test_widget import html, open_messenger, send, wait_user

pytestmark = pytest.mark.browser


def test_a_lost_answer_is_retried_with_the_same_ids_and_stored_once(signet, site, page):
    tenant = signet.tenant([site.origin])
    page.goto(site.page(html(f"<script>signet.setUser({{jwt: {json.dumps(tenant.token('dora'))}}});</script>",
                             tenant.snippet())))
    wait_user(page)
    posts = []

    def lose_the_first_answer(route):
        request = route.request
        if request.method != "POST":
            route.continue_()
            return
        posts.append((request.url, request.post_data_json, request.headers.get("idempotency-key")))
        if sum(1 for url, _, _ in posts if url == request.url) == 1:
            stored = route.fetch()  # the server stores it…
            assert stored.status == 201, stored.text()
            route.abort("connectionreset")  # …and the browser never sees the answer
        else:
            route.continue_()

    page.route("**/api/v1/widget/*/conversations", lose_the_first_answer)
    page.route("**/api/v1/widget/*/conversations/*/messages", lose_the_first_answer)
    open_messenger(page)
    send(page, "Where is my parcel?")
    page.locator("signet-messenger #msgs li", has_text="Where is my parcel?").wait_for()
    send(page, "It was due Monday")
    page.locator("signet-messenger #msgs li", has_text="It was due Monday").wait_for()
    page.wait_for_timeout(1500)  # a poll or two: anything stored twice would show by now

    started, restarted, posted, reposted = posts
    assert started == restarted and started[2]  # the same body and Idempotency-Key, retried
    assert posted == reposted and posted[1]["clientMessageId"] == posted[2]
    assert started[2] != posted[2]  # one id per message
    for text in ("Where is my parcel?", "It was due Monday"):
        assert page.locator("signet-messenger #msgs li", has_text=text).count() == 1
    with signet.app.app_context():
        conversations = db.session.scalar(select(func.count()).select_from(Conversation)
                                          .where(Conversation.tenant_id == tenant.id))
        bodies = db.session.scalars(select(Message.body).where(Message.tenant_id == tenant.id).order_by(Message.id)).all()
        db.session.remove()
    assert conversations == 1
    assert bodies == ["Where is my parcel?", "It was due Monday"]
