"""Email sign-in says nothing about which addresses are known (issue 20 #10): the same answer,
byte for byte, and the same work on the request path (known addresses answered ~2.6 ms slower
when the request itself looked the user up, stored the link and handed the mail over).

Timing is measured, not asserted (bench/email_signin.py, docs/BENCHMARKS.md): here the request
thread's SQL statements are compared, which is what made the difference.
"""
from __future__ import annotations

import threading

from sqlalchemy import event

from webapp.extensions import db
from webapp.infra import background

from ..helpers import csrf_of
from .conftest import add_signed_user


def test_known_and_unknown_addresses_get_the_same_answer_from_the_same_work(app, client, tenant, smtp):
    add_signed_user(app, tenant, "u-jane", email="jane@example.com")
    token = csrf_of(client.get(tenant.page).get_data(as_text=True))
    request_thread = threading.get_ident()
    statements: list[str] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if threading.get_ident() == request_thread:
            statements.append(statement)

    def ask(email: str):
        statements.clear()
        response = client.post(f"{tenant.page}/email", data={"email": email, "csrf_token": token})
        return response, list(statements)

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        known, known_sql = ask("jane@example.com")
        unknown, unknown_sql = ask("nobody@example.com")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    assert background.wait_idle()

    assert known.status_code == unknown.status_code == 200
    assert known.get_data() == unknown.get_data()
    assert sorted(known.headers.keys()) == sorted(unknown.headers.keys())
    assert known.headers.getlist("Set-Cookie") == unknown.headers.getlist("Set-Cookie")
    # The request path runs the same statements, and none of them finds users or stores links:
    # that happens after the answer, on the background worker.
    assert known_sql == unknown_sql
    assert not any("email_sign_in" in sql or "end_user" in sql for sql in known_sql)
    # ...which did its job: one mail, to the known address only.
    assert [m["To"] for m in smtp.wait_for(1)] == ["jane@example.com"]
