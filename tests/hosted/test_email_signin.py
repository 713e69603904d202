"""Email sign-in on the hosted page, end to end through a real SMTP server."""
from __future__ import annotations

import hashlib
import re
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest
from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import EmailSignIn
from webapp.infra import background

from ..helpers import csrf_of
from .conftest import add_signed_user, configure, set_cookie_header, stored_counts, user_count, user_row

LINK = re.compile(r"(http://localhost/m/[^/\s]+/email/([A-Za-z0-9_-]+))")
SAME_ANSWER = "If an account exists for this address, we sent it a sign-in link."


def ask(client, tenant, email: str, **kwargs):
    """Ask for a link, then wait for the background worker that decides and mails (the answer
    comes before it runs)."""
    token = csrf_of(client.get(tenant.page).get_data(as_text=True))
    response = client.post(f"{tenant.page}/email", data={"email": email, "csrf_token": token}, **kwargs)
    assert background.wait_idle()
    return response


def link_in(message) -> tuple[str, str]:
    match = LINK.search(message.get_payload(decode=True).decode())
    assert match, message.get_payload()
    return match.group(1).removeprefix("http://localhost"), match.group(2)


def confirm(client, path: str):
    token = csrf_of(client.get(path).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token})


def links(app) -> list[EmailSignIn]:
    with app.app_context():
        rows = list(db.session.scalars(select(EmailSignIn).order_by(EmailSignIn.id)))
        db.session.expunge_all()
        return rows


@pytest.fixture
def jane(app, tenant):
    """Jane, known from signed data: her email is proven, so email sign-in may sign her in."""
    add_signed_user(app, tenant, "u-jane", email="jane@example.com", name="Jane")
    return tenant


def test_the_form_is_labelled_email(client, tenant):
    body = client.get(tenant.page).get_data(as_text=True)
    assert '<label for="email">Email</label>' in body and 'type="email"' in body


def test_a_mailed_link_signs_in_once_and_a_scanner_uses_nothing_up(client, app, jane, smtp):
    response = ask(client, jane, "  JANE@example.com ")
    assert response.status_code == 200 and SAME_ANSWER in response.get_data(as_text=True)
    [message] = smtp.wait_for(1)
    assert message["To"] == "JANE@example.com" and "Sign in to Acme" in message["Subject"]
    path, token = link_in(message)
    [row] = links(app)
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest() and token not in repr(vars(row))
    assert row.expires_at - row.created_at == timedelta(minutes=15) and row.requested_ip == "127.0.0.1"

    scanner = app.test_client()
    for _ in range(2):
        page = scanner.get(path)
        assert page.status_code == 200 and ">Sign in</button>" in page.get_data(as_text=True)
        assert "jane@example.com" in page.get_data(as_text=True).lower()
    assert links(app)[0].used_at is None

    signed = confirm(client, path)
    assert signed.status_code == 303 and signed.headers["Location"] == jane.page
    header = set_cookie_header(signed, jane.cookie)
    assert "HttpOnly" in header and "SameSite=Lax" in header and f"Path={jane.page}" in header
    assert "Signed in as <strong>Jane</strong>" in client.get(jane.page).get_data(as_text=True)
    user = user_row(app, jane, "u-jane")  # verified by her token: the sign-in keeps that record
    assert (user.verified, user.verified_via, user.created_via, user.email_verified) == (True, "token", "widget", True)

    again = scanner.post(path, data={"csrf_token": csrf_of(page.get_data(as_text=True))})  # a second POST
    assert again.status_code == 410 and "already used" in again.get_data(as_text=True)
    assert scanner.get(path).status_code == 410


def test_unknown_addresses_get_the_same_answer_and_no_mail(client, app, jane, smtp):
    unknown = ask(client, jane, "nobody@example.com")
    known = ask(client, jane, "jane@example.com")
    assert unknown.status_code == known.status_code == 200
    assert unknown.get_data() == known.get_data()
    assert smtp.wait_for(1)[0]["To"] == "jane@example.com"
    time.sleep(0.3)
    assert len(smtp.messages) == 1 and [r.email for r in links(app)] == ["jane@example.com"]


def test_an_invalid_address_is_said_so(client, app, jane):
    response = ask(client, jane, "not an address")
    assert response.status_code == 400 and "valid email address" in response.get_data(as_text=True)
    assert links(app) == []


def test_create_mode_creates_a_user_verified_by_email_at_the_confirmation(client, app, tenant, smtp):
    configure(app, tenant, email_sign_in="create")
    ask(client, tenant, "New.Person@Example.com")
    path, _ = link_in(smtp.wait_for(1)[0])
    assert user_count(app, tenant) == 0  # nothing is created before the click
    assert confirm(client, path).status_code == 303
    user = user_row(app, tenant, "email:new.person@example.com")
    assert (user.email, user.created_via, user.verified, user.anonymous) == ("New.Person@Example.com", "email",
                                                                             True, False)
    assert (user.verified_via, user.verified_alg, user.verified_kid, user.email_verified) == ("email", None, None, True)
    assert "Signed in as <strong>New.Person@Example.com</strong>" in client.get(tenant.page).get_data(as_text=True)
    # The same address again finds the same user.
    ask(client, tenant, "new.person@example.com")
    assert confirm(app.test_client(), link_in(smtp.wait_for(2)[1])[0]).status_code == 303
    assert user_count(app, tenant) == 1


def test_create_mode_at_the_seat_limit_refuses_at_the_click_and_keeps_the_link(client, app, jane, smtp):
    configure(app, jane, email_sign_in="create", seat_limit=1)
    ask(client, jane, "new@example.com")
    path, _ = link_in(smtp.wait_for(1)[0])
    before = stored_counts(app)
    refused = confirm(client, path)
    assert refused.status_code == 403
    assert "This workspace has no seats left — contact its admin" in refused.get_data(as_text=True)
    assert stored_counts(app) == before and links(app)[0].used_at is None
    assert set_cookie_header(refused, jane.cookie) is None
    # The existing user still gets in; once the admin adds a seat, the same link works.
    ask(client, jane, "jane@example.com")
    assert confirm(app.test_client(), link_in(smtp.wait_for(2)[1])[0]).status_code == 303
    configure(app, jane, seat_limit=2)
    assert confirm(client, path).status_code == 303 and user_count(app, jane) == 2


def test_existing_mode_sends_nothing_for_a_new_address(client, app, jane, smtp):
    assert jane and ask(client, jane, "new@example.com").status_code == 200
    assert links(app) == [] and user_count(app, jane) == 1


def test_off_mode_shows_no_form_and_refuses_the_post(client, app, jane, smtp):
    configure(app, jane, email_sign_in="off")
    body = client.get(jane.page).get_data(as_text=True)
    assert 'name="email"' not in body and "open the messenger from the Acme app" in body
    token = csrf_of(client.get("/login").get_data(as_text=True))  # a valid token of this browser session
    response = client.post(f"{jane.page}/email", data={"email": "jane@example.com", "csrf_token": token})
    assert response.status_code == 403 and "Email sign-in is turned off" in response.get_data(as_text=True)
    assert links(app) == []


def test_a_link_made_before_the_mode_was_turned_off_is_refused(client, app, jane, smtp):
    ask(client, jane, "jane@example.com")
    path, _ = link_in(smtp.wait_for(1)[0])
    configure(app, jane, email_sign_in="off")
    assert client.get(path).status_code == 403
    assert confirm_with_token_from(client, "/login", path).status_code == 403


def confirm_with_token_from(client, page: str, path: str):
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(path, data={"csrf_token": token})


def test_an_expired_link_fails(client, app, jane, smtp):
    ask(client, jane, "jane@example.com")
    path, _ = link_in(smtp.wait_for(1)[0])
    page = client.get(path)  # while still valid: the confirmation page
    token = csrf_of(page.get_data(as_text=True))
    with app.app_context():
        db.session.execute(update(EmailSignIn).values(expires_at=datetime.now(timezone.utc) - timedelta(seconds=1)))
        db.session.commit()
    assert client.get(path).status_code == 410
    response = client.post(path, data={"csrf_token": token})
    assert response.status_code == 410 and "expired" in response.get_data(as_text=True)
    assert links(app)[0].used_at is None and set_cookie_header(response, jane.cookie) is None


@pytest.mark.parametrize("token", ["not-a-real-token", "A" * 43, "redacted"])
def test_an_unknown_link_fails(client, jane, token):
    assert client.get(f"{jane.page}/email/{token}").status_code == 400
    response = confirm_with_token_from(client, "/login", f"{jane.page}/email/{token}")
    assert response.status_code == 400 and "not valid" in response.get_data(as_text=True)


def test_a_link_only_works_under_its_own_workspace(client, app, jane, smtp):
    from .conftest import make_tenant

    other = make_tenant(app, "Globex")
    ask(client, jane, "jane@example.com")
    _, token = link_in(smtp.wait_for(1)[0])
    assert client.get(f"{other.page}/email/{token}").status_code == 400


def test_the_forms_need_their_csrf_token(client, app, jane, smtp):
    assert client.post(f"{jane.page}/email", data={"email": "jane@example.com"}).status_code == 400
    assert links(app) == []
    ask(client, jane, "jane@example.com")
    path, _ = link_in(smtp.wait_for(1)[0])
    for data in ({}, {"csrf_token": "forged"}):
        assert client.post(path, data=data).status_code == 400
    assert links(app)[0].used_at is None


def test_requests_are_throttled_per_address_and_per_email(client, app, jane, smtp):
    for _ in range(5):
        assert ask(client, jane, "jane@example.com").status_code == 200
    blocked = ask(client, jane, "Jane@Example.com")
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) > 0
    assert blocked.headers["Referrer-Policy"] == "no-referrer"
    assert len(links(app)) == 5
    for i in range(15):  # 20 from this address in all
        assert ask(client, jane, f"someone{i}@example.com").status_code == 200
    assert ask(client, jane, "other@example.com").status_code == 429
    assert ask(client, jane, "other@example.com", environ_base={"REMOTE_ADDR": "198.51.100.9"}).status_code == 200


def test_without_smtp_the_link_is_printed_to_the_console(client, app, jane, capsys):
    assert app.config.get("SIGNET_SMTP_URL") is None
    ask(client, jane, "jane@example.com")
    err = capsys.readouterr().err
    assert err.startswith("[signet] email sign-in: jane@example.com -> http://localhost/m/")
    path = re.search(r"http://localhost(/m/\S+)", err).group(1)
    assert confirm(client, path).status_code == 303


def test_links_use_the_public_url_when_set(client, app, jane, capsys):
    app.config["SIGNET_PUBLIC_URL"] = "https://chat.example.com"
    ask(client, jane, "jane@example.com")
    assert f"-> https://chat.example.com/m/{jane.public_id}/email/" in capsys.readouterr().err


def test_two_clicks_racing_sign_in_once(app, jane, smtp):
    ask(app.test_client(), jane, "jane@example.com")
    path, _ = link_in(smtp.wait_for(1)[0])
    clients = [app.test_client() for _ in range(8)]
    tokens = [csrf_of(c.get(path).get_data(as_text=True)) for c in clients]
    results: list[int] = []
    barrier = threading.Barrier(len(clients))

    def click(c, token):
        barrier.wait()
        results.append(c.post(path, data={"csrf_token": token}).status_code)

    threads = [threading.Thread(target=click, args=pair) for pair in zip(clients, tokens)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [303] + [410] * 7
