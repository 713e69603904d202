"""The tests' one vocabulary for a workspace: `Workspace`, made by `make_workspace` through the
services the product uses, with its ids, owner, signing secret, public keys, and the clients that
drive it; `cheap_passwords` (the password-cost fixture) and `snapshot` (tables left unchanged).

Keys are made at run time: no private key or secret is ever committed.
"""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field
from urllib.parse import quote

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import select, text, update
from werkzeug.security import generate_password_hash

from webapp.extensions import db
from webapp.identity.keys import hmac_key, parse_public_key
from webapp.identity.verifier import VerificationKey
from webapp.models import Conversation, EndUser

from .helpers import login

PASSWORD = "correct horse battery staple"


@pytest.fixture
def cheap_passwords(monkeypatch):
    """Skip scrypt's deliberate cost when making accounts (logins still verify the same password)."""
    from webapp.services.workspace import members

    monkeypatch.setattr(members, "generate_password_hash",
                        lambda password: generate_password_hash(password, method="pbkdf2:sha256:1"))


def snapshot(app, tables) -> dict[str, list[str]]:
    """Every stored row of `tables`, to compare before and after a request that must change nothing."""
    with app.app_context():
        return {t: sorted(map(repr, db.session.execute(text(f"SELECT * FROM {t}")).all())) for t in tables}


def public_pem(private) -> str:
    """The SPKI PEM of a private key's public half (what the keyring takes)."""
    return private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode("ascii")


@dataclass(frozen=True)
class Key:
    """One signing key of a workspace: its alg, kid, private half (or the HS256 secret text) and
    public PEM; how to sign with it and how the verifier receives it."""

    alg: str
    kid: str
    private: object
    public_pem: str | None

    @property
    def vkey(self) -> VerificationKey:
        if self.alg == "HS256":
            return VerificationKey(self.kid, "HS256", hmac_key(self.private))
        return VerificationKey(self.kid, self.alg, parse_public_key(self.public_pem, self.alg).key)

    def sign(self, claims: dict, *, kid: bool | str = True, headers: dict | None = None) -> str:
        """A token signed by PyJWT, with this key's kid (or the `kid` given) unless `kid=False`."""
        extra = dict(headers or {})
        if kid:
            extra.setdefault("kid", self.kid if kid is True else kid)
        key = self.private.encode() if self.alg.startswith("HS") else self.private
        return jwt.encode(claims, key, algorithm=self.alg, headers=extra or None)


@dataclass
class Workspace:
    """A tenant as tests drive it: ids, owner, HS256 secret, public keys, the widget API's URLs,
    the hosted page's path, and clients for the API and the logged-in dashboard."""

    app: object
    id: int
    public_id: str
    owner: str
    password: str = PASSWORD
    secret: str | None = None
    secret_kid: str | None = None
    keys: dict[str, Key] = field(default_factory=dict)  # alg -> key whose public half is uploaded
    sessions: dict = field(default_factory=dict)  # end user id -> widget session (set_user below)

    @property
    def ed_key(self):
        return self.keys["EdDSA"].private

    @property
    def ed_kid(self) -> str:
        return self.keys["EdDSA"].kid

    def key(self, alg: str = "HS256") -> Key:
        if alg.startswith("HS"):
            return Key(alg, self.secret_kid, self.secret, None)
        return self.keys[alg]

    def sign(self, claims: dict | None = None, alg: str = "HS256", *, kid: bool | str = True,
             headers: dict | None = None, exp: bool = True, ttl: int = 300, secret: str | None = None) -> str:
        """A token: exp `ttl` seconds ahead unless given (or exp=False); this workspace's kid for
        `alg` unless kid=False or another kid is named; `secret` signs HS256 with another secret."""
        body = dict(claims or {})
        if exp:
            body.setdefault("exp", int(time.time()) + ttl)
        key = self.key(alg)
        if secret is not None:
            key = Key("HS256", key.kid, secret, None)
        return key.sign(body, kid=kid, headers=headers)

    # --- the widget API ------------------------------------------------------------------------
    def url(self, path: str) -> str:
        return f"/api/v1/widget/{self.public_id}/{path}"

    def api_client(self):
        """A test client whose widget calls go to this workspace (client.tenant)."""
        client = self.app.test_client()
        client.tenant = self
        return client

    def set_user(self, body: dict, visitor: str | None = None) -> dict:
        """set-user that must succeed; the 200 JSON (its session kept in `sessions`)."""
        headers = {"X-Signet-Visitor": visitor} if visitor else {}
        response = self.app.test_client().post(self.url("set-user"), json=body, headers=headers)
        assert response.status_code == 200, response.get_json()
        data = response.get_json()
        self.sessions[data["user"]["id"]] = data["session"]
        return data

    def signed_user(self, user: dict) -> dict:
        return self.set_user({"jwt": self.sign(user, "EdDSA")})

    def login_link_user(self, user: dict) -> dict:
        return self.set_user({"externalAuthCode": self.sign({"user": user}, "HS256")})

    def start(self, session: str, body: str = "Hello, I need help") -> str:
        response = self.app.test_client().post(self.url("conversations"), json={"body": body},
                                               headers={"Authorization": f"Bearer {session}"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["id"]

    def write(self, session: str, conversation: str, body: str) -> dict:
        response = self.app.test_client().post(self.url(f"conversations/{conversation}/messages"), json={"body": body},
                                               headers={"Authorization": f"Bearer {session}"})
        assert response.status_code == 201, response.get_json()
        return response.get_json()

    def widget_messages(self, session: str, conversation: str) -> list[dict]:
        response = self.app.test_client().get(self.url(f"conversations/{conversation}/messages"),
                                              headers={"Authorization": f"Bearer {session}"})
        assert response.status_code == 200
        return response.get_json()["messages"]

    def user_with_conversation(self, external_id: str, body: str = "Hello, I need help", **fields) -> tuple[str, str]:
        """(session, conversation id) of a new unsigned user who wrote once."""
        data = self.set_user({"id": external_id, **fields})
        return data["session"], self.start(data["session"], body)

    # --- the hosted page -----------------------------------------------------------------------
    @property
    def page(self) -> str:
        return f"/m/{self.public_id}"

    @property
    def cookie(self) -> str:
        return f"signet_m_{self.public_id}"

    def link(self, claims: dict | None = None, **kwargs) -> str:
        """The hosted page with a login link's externalAuthCode (HS256, see `sign`)."""
        return f"{self.page}?externalAuthCode={quote(self.sign(claims, **kwargs))}"

    # --- the dashboard -------------------------------------------------------------------------
    def page_client(self, email: str | None = None):
        """A test client logged in to the dashboard as `email` (the owner unless given)."""
        client = self.app.test_client()
        response = login(client, email or self.owner, self.password)
        assert response.status_code == 302, response.get_data(as_text=True)
        client.tenant = self
        return client

    # --- the database, for what the API cannot express -----------------------------------------
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

    def set_seen(self, external_id: str, when) -> None:
        with self.app.app_context():
            db.session.execute(update(EndUser).where(EndUser.tenant_id == self.id, EndUser.external_id == external_id)
                               .values(last_seen_at=when))
            db.session.commit()


def make_workspace(app, name: str = "Acme", *, owner: str | None = None, secret: bool = True,
                   keys: tuple[Key, ...] = (), **settings) -> Workspace:
    """A workspace made through the services the product uses: the owner (a fresh address unless
    given), `settings` applied when given, an HS256 secret unless secret=False, and the public
    half of each of `keys` uploaded (the Key's kid is replaced by the one the keyring gives)."""
    from webapp.services.keys import keyring
    from webapp.services.workspace import tenants

    owner = owner or f"owner-{uuid.uuid4().hex[:8]}@example.com"
    with app.app_context():
        tenant = tenants.create_tenant(name, owner, PASSWORD)
        made = Workspace(app, tenant.id, tenant.public_id, owner)
        if settings:
            tenants.update_settings(tenant, tenants.Settings(**settings))
        if secret:
            row, made.secret = keyring.create_secret(tenant)
            made.secret_kid = row.kid
        for key in keys:
            row = keyring.add_public_key(tenant, key.public_pem or public_pem(key.private), key.alg)
            made.keys[key.alg] = Key(key.alg, row.kid, key.private, key.public_pem)
        db.session.remove()
    return made
