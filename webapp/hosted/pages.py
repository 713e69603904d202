"""What the hosted page says when it refuses: a page a person understands, with the contract's status.

Refusals come from the services as the one family of webapp/refusals.py (a contract `.code`,
a `.message`); the class gives the status (webapp/errors.py `http_status`). Each code maps to a
title and an explanation here, in the visitor's language (webapp/locales, hosted/language.py), and
the code and the service's message (English) are shown underneath for whoever has to debug the link.
"""
from __future__ import annotations

import time

from flask import g, render_template

from ..errors import http_status
from ..refusals import Refused
from ..services.end_users.email_signin import LINK_SECONDS
from . import language

# Each refusal code's page: catalog keys error.<name>.title / error.<name>.text (webapp/locales).
PAGES: dict[str, str] = {
    "login_links_disabled": "login_links_disabled",
    "token_expired": "token_expired",
    "token_not_yet_valid": "token_not_yet_valid",
    "token_replayed": "token_replayed",
    "token_malformed": "token_malformed",
    "token_missing_exp": "token_missing_exp",
    "token_bad_signature": "not_verified",
    "token_unknown_key": "not_verified",
    "token_algorithm_not_allowed": "not_verified",
    "token_bad_audience": "not_for_us",
    "token_bad_issuer": "not_for_us",
    "token_wrong_tenant": "not_for_us",
    "unknown_user": "unknown_user",
    "seat_limit_reached": "seat_limit_reached",
    "invalid_field": "invalid_field",
    "unknown_field": "invalid_field",
    "verification_required": "verification_required",
    "email_sign_in_off": "email_sign_in_off",
    "link_invalid": "link_invalid",
    "link_used": "link_used",
    "link_expired": "link_expired",
    "no_account": "no_account",
}


def _page(name: str) -> tuple[str, str]:
    """(title, explanation) of error.<name> in this request's language."""
    return (language.t(f"error.{name}.title"),
            language.t(f"error.{name}.text", minutes=LINK_SECONDS // 60))


def refused(error: Refused):
    if error.code in PAGES:
        title, explanation = _page(PAGES[error.code])
    else:  # a code with no page of its own: English shows the service's message as before
        title, explanation = _page("other")
        explanation = error.message if language.lang() == "en" else explanation
    server_time = None
    if error.code in ("token_expired", "token_not_yet_valid", "link_expired"):
        server_time = language.when(time.time())
    return render_page(http_status(error), title, explanation, code=error.code, detail=error.message,
                       server_time=server_time)


def render_page(status: int, title: str, explanation: str, *, code: str | None = None, detail: str | None = None,
                server_time: str | None = None, headers: dict | None = None):
    html = render_template("hosted/error.html", tenant=g.get("tenant_info"), status=status, title=title,
                           explanation=explanation, code=code, detail=detail, server_time=server_time)
    return html, status, headers or {}


def not_found():
    return render_page(404, *_page("not_found"))


def form_expired():
    return render_page(400, *_page("form_expired"))


def too_many(retry_after: int):
    return render_page(429, *_page("too_many"), headers={"Retry-After": str(retry_after)})
