"""The dashboard's inbox, users and organizations, fed through the real widget API.

End users, organizations and conversations are made the way a customer's site makes them:
`POST /api/v1/widget/<tenant>/set-user` (unsigned, signed with the tenant's Ed25519 key, or a
login link signed with its HS256 secret) and the conversation endpoints with the returned
bearer session. Keys are generated at run time; nothing secret is committed.
"""
from __future__ import annotations

import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from webapp.extensions import db
from webapp.models import Conversation, EndUser
from webapp.services import members

from ..conftest import PASSWORD, provision
from ..helpers import csrf_of, login


@pytest.fixture(autouse=True)
def _cheap_passwords(monkeypatch):
    """Members log in here many times: skip scrypt's deliberate cost."""
    monkeypatch.setattr(members, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))


@dataclass
class Workspace:
    """A tenant as a customer's site and its support staff see it."""

    app: object
    id: int
    public_id: str
    owner: str
    secret: str
    secret_kid: str
    ed_kid: str
    ed_key: ed25519.Ed25519PrivateKey
    sessions: dict = field(default_factory=dict)

    # --- the customer's site: the widget API --------------------------------------------------
    def api(self, path: str) -> str:
        return f"/api/v1/widget/{self.public_id}/{path}"

    def set_user(self, body: dict, visitor: str | None = None) -> dict:
        headers = {"X-Signet-Visitor": visitor} if visitor else {}
        response = self.app.test_client().post(self.api("set-user"), json=body, headers=headers)
        assert response.status_code == 200, response.get_json()
        data = response.get_json()
        self.sessions[data["user"]["id"]] = data["session"]
        return data

    def token(self, claims: dict, alg: str = "EdDSA") -> str:
        body = {"exp": int(time.time()) + 300, **claims}
        if alg == "EdDSA":
            return jwt.encode(body, self.ed_key, algorithm="EdDSA", headers={"kid": self.ed_kid})
        return jwt.encode(body, self.secret, algorithm="HS256", headers={"kid": self.secret_kid})

    def signed_user(self, user: dict) -> dict:
        return self.set_user({"jwt": self.token(user, "EdDSA")})

    def login_link_user(self, user: dict) -> dict:
        return self.set_user({"externalAuthCode": self.token({"user": user}, "HS256")})

    def start(self, session: str, body: str = "Hello, I need help") -> str:
        response = self.app.test_client().post(self.api("conversations"), json={"body": body},
                                               headers={"Authorization": f"Bearer {session}"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def write(self, session: str, conversation: str, body: str) -> dict:
        response = self.app.test_client().post(self.api(f"conversations/{conversation}/messages"), json={"body": body},
                                               headers={"Authorization": f"Bearer {session}"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def widget_messages(self, session: str, conversation: str) -> list[dict]:
        response = self.app.test_client().get(self.api(f"conversations/{conversation}/messages"),
                                              headers={"Authorization": f"Bearer {session}"})
        assert response.status_code == 200
        return response.get_json()["messages"]

    def user_with_conversation(self, external_id: str, body: str = "Hello, I need help", **fields) -> tuple[str, str]:
        """(session, conversation id) of a new unsigned user who wrote once."""
        data = self.set_user({"id": external_id, **fields})
        return data["session"], self.start(data["session"], body)

    # --- the database, for what the API cannot express ---------------------------------------
    def row(self, external_id: str) -> EndUser:
        with self.app.app_context():
            user = db.session.scalar(select(EndUser).where(EndUser.tenant_id == self.id,
                                                           EndUser.external_id == external_id))
            db.session.expunge(user)
            return user

    def row_id(self, external_id: str) -> int:
        return self.row(external_id).id

    def conversation(self, public_id: str) -> Conversation:
        with self.app.app_context():
            row = db.session.scalar(select(Conversation).where(Conversation.public_id == public_id))
            db.session.expunge(row)
            return row

    def set_seen(self, external_id: str, when: datetime) -> None:
        with self.app.app_context():
            db.session.execute(update(EndUser).where(EndUser.tenant_id == self.id, EndUser.external_id == external_id)
                               .values(last_seen_at=when))
            db.session.commit()


def make_workspace(app, ed_key, name: str = "Acme") -> Workspace:
    made = provision(app, ed_key, name, login_links_enabled=True)
    return Workspace(app, made["id"], made["public_id"], made["owner"], made["secret"], made["secret_kid"],
                     made["ed_kid"], ed_key)


@pytest.fixture
def ws(app, ed_key) -> Workspace:
    return make_workspace(app, ed_key)


@pytest.fixture
def other_ws(app, ed_key) -> Workspace:
    return make_workspace(app, ed_key, "Globex")


@pytest.fixture
def staff(app, ws):
    """A test client logged in as the owner of `ws`."""
    client = app.test_client()
    assert login(client, ws.owner, PASSWORD).status_code == 302
    return client


def post(client, path: str, data: dict | None = None, page: str = "/inbox", **kwargs):
    """POST a dashboard form with a CSRF token taken from `page`, as a browser would."""
    token = csrf_of(client.get(page).get_data(as_text=True))
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def text_of(response) -> str:
    return response.get_data(as_text=True)


def links(html: str, rel: str) -> str | None:
    match = re.search(rf'rel="{rel}" href="([^"]+)"', html)
    return match.group(1).replace("&amp;", "&") if match else None


def ago(**delta) -> datetime:
    return datetime.now(timezone.utc) - timedelta(**delta)
