"""Erasure (DELETE /api/v1/server/users/<id>) leaves nothing of the person: not in any column of
any table (reflected, so tables added later are searched too), on SQLite and PostgreSQL; and on
SQLite not in the bytes of the database file, its WAL, or a backup taken afterwards."""
from __future__ import annotations

import json
import sqlite3
import uuid
from datetime import timedelta
from pathlib import Path

from sqlalchemy import MetaData, func, select, text

from webapp.extensions import db
from webapp.models import EmailSignIn
from webapp.models._types import utcnow
from webapp.services import audit

from ..conftest import provision
from .conftest import Api, make_key

USER_ID = "erase-me-7Qz"
EMAIL = "Erase.Me.7qz@example.org"
SECRET_TEXT = "my-diary-entry-7Qz"  # in their messages only


def _person(app, ed_key) -> tuple[Api, object, str, str]:
    """A person with everything Signet can hold about them; (api, workspace, session, conversation)."""
    workspace = provision(app, ed_key, "Acme")
    key, _ = make_key(app, workspace.public_id)
    api = Api(app, key, workspace)
    widget = app.test_client()
    # An anonymous visitor first: a conversation with an Idempotency-Key (its stored answer holds the text)
    visitor = widget.post(workspace.url("set-user"), json={"id": None}).get_json()
    started = widget.post(workspace.url("conversations"), json={"body": f"I am {EMAIL}, {SECRET_TEXT}"},
                          headers={"Authorization": f"Bearer {visitor['session']}", "Idempotency-Key": "k1"})
    assert started.status_code == 201
    # … who identifies with a signed token (one-time jti), bringing the conversation along
    token = workspace.sign({"id": USER_ID, "email": EMAIL, "name": "Erin Erased", "jti": uuid.uuid4().hex,
                            "organizations": [{"id": "org-kept", "name": "Kept Org"}]}, "EdDSA")
    user = widget.post(workspace.url("set-user"), json={"jwt": token},
                       headers={"X-Signet-Visitor": visitor["visitorId"]}).get_json()
    session = user["session"]
    conversation = widget.post(workspace.url("conversations"), json={"body": f"Again {SECRET_TEXT}"},
                               headers={"Authorization": f"Bearer {session}", "Idempotency-Key": "k2"}).get_json()["id"]
    workspace.write(session, conversation, f"reach me at {EMAIL}")
    assert api.post(f"/conversations/{conversation}/messages", json={"body": f"Hi {USER_ID}", "staffName": "Bot"}).status_code == 201
    assert api.put(f"/users/{USER_ID}", json={"attrs": {"note": f"{SECRET_TEXT}"}}).status_code == 200
    # a refusal naming them in the rejection log (unsigned data for a verified user)
    assert widget.post(workspace.url("set-user"), json={"id": USER_ID, "name": "x"}).status_code == 403
    with app.app_context():  # an email sign-in link mailed to them, and an audit entry naming them
        db.session.add(EmailSignIn(tenant_id=workspace.id, email=EMAIL.lower(), token_hash=uuid.uuid4().hex,
                                   expires_at=utcnow() + timedelta(minutes=15), requested_ip="203.0.113.7"))
        audit.record(workspace.id, "user.sessions_ended", USER_ID, after={"email": EMAIL}, actor="someone@example.com")
        db.session.commit()
        db.session.remove()
    # logged out once (a revoked session's random id stays: no personal data)
    other = workspace.signed_user({"id": USER_ID})["session"]
    assert widget.post(workspace.url("logout"), headers={"Authorization": f"Bearer {other}"}).status_code == 204
    return api, workspace, session, conversation


def _needles() -> list[str]:
    return [USER_ID, EMAIL, EMAIL.lower(), SECRET_TEXT, "Erin Erased", "203.0.113.7"]


def _leftovers(app) -> list[str]:
    """Every row of every table (reflected from the database) holding the person, as 'table: row'."""
    found = []
    with app.app_context():
        meta = MetaData()
        meta.reflect(bind=db.engine)
        for table in meta.sorted_tables:
            for row in db.session.execute(select(table)).mappings():
                blob = json.dumps({k: str(v) for k, v in row.items()}, ensure_ascii=False).lower()
                hits = [n for n in _needles() if n.lower() in blob]
                if hits and not _allowed(table.name, row, hits):
                    found.append(f"{table.name}: {hits} in {dict(row)}")
        db.session.remove()
    return found


def _allowed(table: str, row, hits: list[str]) -> bool:
    """The one notice that must name the id: the user.deleted event to the tenant's own backend
    (the id the tenant chose; never the email or anything else)."""
    return table == "outbox_event" and row.get("type") == "user.deleted" and hits == [USER_ID]


def _erase_and_check(app, ed_key) -> dict:
    api, workspace, session, conversation = _person(app, ed_key)
    assert _leftovers(app), "the scenario must have stored the person somewhere"
    # The right of access: their sign-in links, but not the address one was asked from (anyone may
    # ask for a link to their mailbox, so that address may be someone else's).
    export = api.get(f"/users/{USER_ID}/export")
    assert export.status_code == 200 and len(export.get_json()["emailSignIns"]) == 1
    assert "203.0.113.7" not in export.get_data(as_text=True)
    answer = api.delete(f"/users/{USER_ID}")
    assert answer.status_code == 200, answer.get_json()
    counts = answer.get_json()["deleted"]
    assert counts["users"] == 1 and counts["conversations"] == 2 and counts["messages"] == 4
    assert counts["memberships"] == 1 and counts["idempotencyKeys"] == 2 and counts["emailSignIns"] == 1
    assert counts["rejections"] >= 1 and counts["auditEntries"] == 1
    assert _leftovers(app) == []
    # their live session is refused at once; the organization stays; nothing left to find
    widget = app.test_client()
    assert widget.get(workspace.url("conversations"), headers={"Authorization": f"Bearer {session}"}).status_code == 401
    assert api.get("/organizations/org-kept").status_code == 200
    assert api.get(f"/users/{USER_ID}").status_code == 404 and api.get(f"/conversations/{conversation}").status_code == 404
    assert api.delete(f"/users/{USER_ID}").status_code == 404
    return counts


def test_erasure_leaves_nothing_on_sqlite(app, ed_key, tmp_path):
    _erase_and_check(app, ed_key)
    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    backup = tmp_path / "backup.sqlite3"
    source, target = sqlite3.connect(path), sqlite3.connect(backup)
    source.backup(target)
    source.close(), target.close()
    wal = Path(f"{path}-wal")
    files = {"database": path.read_bytes(), "wal": wal.read_bytes() if wal.exists() else b"",
             "backup": backup.read_bytes()}
    deleted_events = _user_deleted_events(app)
    for name, data in files.items():
        lowered = data.lower()
        for needle in _needles():
            if needle == USER_ID and deleted_events:
                continue  # the user.deleted notice names the id (see _allowed)
            assert needle.lower().encode() not in lowered, f"{needle!r} is still in the {name} bytes"


def _user_deleted_events(app) -> int:
    with app.app_context():
        try:
            return db.session.execute(text("SELECT count(*) FROM outbox_event WHERE type = 'user.deleted'")).scalar()
        finally:
            db.session.remove()


def test_without_secure_delete_the_bytes_would_stay(app, ed_key):
    """The byte check above is meaningful: the person's bytes were in the files before erasure."""
    _person(app, ed_key)
    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    wal = Path(f"{path}-wal")
    data = path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")
    assert SECRET_TEXT.encode() in data and EMAIL.lower().encode() in data.lower()


def test_every_connection_has_secure_delete(app):
    with app.app_context():
        assert db.session.execute(text("PRAGMA secure_delete")).scalar() == 1
        db.session.remove()


def test_secure_delete_cannot_cost_the_hot_path(app, ed_key):
    """secure_delete only costs when rows are deleted; a returning verified user's set-user
    executes no DELETE (nor any other write), so it cannot be slowed by it. Proven by the
    statements the call runs, not by a clock (timings belong in bench/)."""
    from sqlalchemy import event

    workspace = provision(app, ed_key, "Acme")
    token = workspace.sign({"id": "hot"}, "EdDSA", ttl=3600)
    client = app.test_client()
    assert client.post(workspace.url("set-user"), json={"jwt": token}).status_code == 200
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_args):
        statements.append(statement.lstrip().split(None, 1)[0].upper())

    path = Path(app.config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    files = [path, Path(f"{path}-wal")]

    def on_disk() -> list[bytes]:
        return [f.read_bytes() if f.exists() else b"" for f in files]

    with app.app_context():
        engine = db.engine
    before = on_disk()
    event.listen(engine, "before_cursor_execute", seen)
    try:
        for _ in range(5):
            assert client.post(workspace.url("set-user"), json={"jwt": token}).status_code == 200
    finally:
        event.remove(engine, "before_cursor_execute", seen)
    # The reads go through the read connections (webapp/infra/read_connections.py), not the engine:
    # that no byte of the database file or its WAL changed proves no write happened at all.
    assert not {"DELETE", "INSERT", "UPDATE"} & set(statements), statements
    assert on_disk() == before


def test_erasure_leaves_nothing_on_postgresql(postgres_app, ed_key):
    _erase_and_check(postgres_app, ed_key)


UNSIGNED_ID = "unsigned-erase-me-4Kp"


def _sampled_then_erased(app, ed_key, tmp_path) -> list[str]:
    """An unsigned user whose id the identity-health meter sampled (in the database, in this
    process's memory, and in another process's memory), then erased; the samples left."""
    from webapp.models import UnsignedIdSample
    from webapp.services.keys import usage

    from ..conftest import make_app

    workspace = provision(app, ed_key, "Acme")
    key, _ = make_key(app, workspace.public_id)
    api = Api(app, key, workspace)
    widget = app.test_client()
    assert widget.post(workspace.url("set-user"), json={"id": UNSIGNED_ID, "name": "Una"}).status_code == 200
    usage.flush(app)
    with app.app_context():  # the meter did sample the id: otherwise "none left" below proves nothing
        sampled = db.session.scalar(select(func.count()).where(UnsignedIdSample.external_id == UNSIGNED_ID))
        db.session.remove()
    assert sampled == 1
    (tmp_path / "second").mkdir()
    second = make_app(tmp_path / "second", SQLALCHEMY_DATABASE_URI=app.config["SQLALCHEMY_DATABASE_URI"])
    assert second.test_client().post(workspace.url("set-user"), json={"id": UNSIGNED_ID}).status_code == 200
    assert widget.post(workspace.url("set-user"), json={"id": UNSIGNED_ID}).status_code == 200
    assert api.delete(f"/users/{UNSIGNED_ID}").status_code == 200
    usage.flush(app)
    usage.flush(second)  # another process flushing what it counted before the erasure
    with second.app_context():
        db.engine.dispose()
    with app.app_context():
        try:
            return list(db.session.scalars(select(UnsignedIdSample.external_id)
                                           .where(UnsignedIdSample.external_id == UNSIGNED_ID)))
        finally:
            db.session.remove()


def test_erasure_forgets_the_unsigned_id_samples(app, ed_key, tmp_path):
    """Security review: the identity-health meter's sample of unsigned ids kept the erased
    person's id, and a process's unwritten sample wrote it back after the erasure."""
    assert _sampled_then_erased(app, ed_key, tmp_path) == []


def test_erasure_forgets_the_unsigned_id_samples_on_postgresql(postgres_app, ed_key, tmp_path):
    assert _sampled_then_erased(postgres_app, ed_key, tmp_path) == []


def test_a_conversation_started_as_the_user_is_erased_is_refused_and_writes_nothing(app, ed_key):
    """The race: the widget call's session was checked, then the user was erased before its write.
    The write finds no user and answers as for a revoked session (401 session_invalid), never a 500,
    and leaves no conversation or message behind."""
    from webapp.models import Conversation, Message
    from webapp.refusals import Unauthorized
    from webapp.services.end_users import sessions
    from webapp.services.end_users.snapshots import tenant as tenant_by_public_id
    from webapp.services.messaging import conversations

    workspace = provision(app, ed_key, "Acme")
    key, _ = make_key(app, workspace.public_id)
    api = Api(app, key, workspace)
    widget = app.test_client()
    answer = widget.post(workspace.url("set-user"), json={"jwt": workspace.sign({"id": USER_ID}, "EdDSA")})
    assert answer.status_code == 200
    with app.test_request_context():
        checked = sessions.check(answer.get_json()["session"], tenant_by_public_id(workspace.public_id))
        assert checked is not None and checked.user_id is not None
        db.session.remove()
    assert api.delete(f"/users/{USER_ID}").status_code == 200
    with app.test_request_context():
        try:
            conversations.start(checked, "hello after my erasure")
        except Unauthorized as refused:
            assert refused.code == "session_invalid"
        else:
            raise AssertionError("a conversation was started for an erased user")
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 0
        assert db.session.scalar(select(func.count()).select_from(Message)) == 0
        db.session.remove()
