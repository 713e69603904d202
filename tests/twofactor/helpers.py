"""Two-factor test helpers: enrol an authenticator app through the pages, codes from pyotp."""
from __future__ import annotations

import re

import pyotp

from ..helpers import csrf_of, post_form

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
