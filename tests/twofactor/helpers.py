"""Two-factor test helpers: enrol an authenticator app through the pages, codes from pyotp; give a
member a passkey (a SoftKey) and reach its login challenge."""
from __future__ import annotations

import re

import pyotp
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Member, Passkey

from ..conftest import PASSWORD
from ..helpers import csrf_of, post_form
from .softkey import SoftKey

ORIGIN = "http://localhost"  # the test client's host: the relying party is the dashboard's host

KEY = re.compile(r'id="totp-key">([A-Z2-7]+)<')
CODES = re.compile(r"<li><code>([a-z0-9-]{19})</code></li>")


def enrol_totp(client) -> tuple[pyotp.TOTP, list[str]]:
    """Set up the authenticator app on /account/security as a member would; (totp, recovery codes)."""
    assert post_form(client, "/account/security/totp/start", page="/account/security").status_code == 302
    page = client.get("/account/security").get_data(as_text=True)
    totp = pyotp.TOTP(KEY.search(page).group(1))
    answer = client.post("/account/security/totp/confirm", data={"code": totp.now(), "csrf_token": csrf_of(page)})
    assert answer.status_code == 200, answer.get_data(as_text=True)
    codes = CODES.findall(answer.get_data(as_text=True))
    assert len(codes) == 10
    return totp, codes


def password_step(client, email: str, password: str):
    """The first step of a login: the password. A member with two-factor gets the second page."""
    return post_form(client, "/login", {"email": email, "password": password})


def second_step(client, code: str):
    return post_form(client, "/login/two-factor", {"code": code})


def add_passkey(app, email: str, key: SoftKey, name: str = "k") -> int:
    """Register `key` as a passkey of the member `email` straight in the database; the row's id."""
    with app.app_context():
        member_id = db.session.scalar(select(Member.id).where(Member.email == email))
        row = Passkey(member_id=member_id, name=name, credential_id=key.credential_id,
                      public_key=key.cose_public_key(), sign_count=0)
        db.session.add(row)
        db.session.commit()
        return row.id


def passkey_challenge(app, email: str):
    """A new client past the password step of `email`'s login, on the two-factor page: (client,
    its CSRF token, the passkey options with the challenge the server made)."""
    client = app.test_client()
    assert password_step(client, email, PASSWORD).headers["Location"] == "/login/two-factor"
    csrf = csrf_of(client.get("/login/two-factor").get_data(as_text=True))
    options = client.post("/login/two-factor/passkey/options", headers={"X-CSRFToken": csrf}).get_json()
    return client, csrf, options
