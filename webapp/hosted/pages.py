"""What the hosted page says when it refuses: a page a person understands, with the contract's status.

Refusals come from the services as the one family of webapp/refusals.py (a contract `.code`,
a `.message`); the class gives the status (webapp/errors.py `http_status`). Each code maps to a
title and an explanation here, and the code and the service's message are shown underneath for
whoever has to debug the link.
"""
from __future__ import annotations

import time

from flask import g, render_template

from ..errors import http_status
from ..refusals import Refused
from ..presenters import minutes_words
from ..services.end_users.email_signin import LINK_SECONDS
from ..templating import when

_NOT_VERIFIED = ("This link could not be verified",
                 "It was not signed by this workspace, or with a key it no longer accepts. Ask the app for a new link.")
_NOT_FOR_US = ("This link is not for this workspace",
               "It was made for another workspace or service. Open the messenger from the app again.")
_NEW_LINK = "Open the messenger from the app again to get a new link."

PAGES: dict[str, tuple[str, str]] = {
    "login_links_disabled": ("Login links are turned off",
                             "This workspace does not accept login links. Sign in from its app instead."),
    "token_expired": ("This link has expired", "Login links work for a short time only. " + _NEW_LINK),
    "token_not_yet_valid": ("This link is not valid yet",
                            "It was made for a later time: the clock of the server that made it may be wrong."),
    "token_replayed": ("This link was already used", "Each login link works once. " + _NEW_LINK),
    "token_malformed": ("This link is damaged or not accepted",
                        "It may have been cut off or changed on the way, or it breaks this workspace's rules for"
                        " login links. Copy the whole link, or get a new one."),
    "token_missing_exp": ("This link is not accepted", "A login link must say when it expires. " + _NEW_LINK),
    "token_bad_signature": _NOT_VERIFIED,
    "token_unknown_key": _NOT_VERIFIED,
    "token_algorithm_not_allowed": _NOT_VERIFIED,
    "token_bad_audience": _NOT_FOR_US,
    "token_bad_issuer": _NOT_FOR_US,
    "token_wrong_tenant": _NOT_FOR_US,
    "unknown_user": ("We don't know this account", "This link names nobody this workspace knows."),
    "seat_limit_reached": ("No seats left",
                           "This workspace has no seats left — contact its admin."),
    "invalid_field": ("This link carries invalid details", "The app made a link Signet cannot accept."),
    "unknown_field": ("This link carries invalid details", "The app made a link Signet cannot accept."),
    "verification_required": ("This link is not accepted", "This workspace needs signed details. " + _NEW_LINK),
    "email_sign_in_off": ("Email sign-in is turned off", "Use the link from the app to open the messenger."),
    "link_invalid": ("This sign-in link is not valid", "Copy the whole link from the mail, or ask for a new one."),
    "link_used": ("This sign-in link was already used", "Each sign-in link works once. Ask for a new one."),
    "link_expired": ("This sign-in link has expired", f"Sign-in links work for {minutes_words(LINK_SECONDS)}. Ask for a new one."),
    "no_account": ("No account with this email", "This workspace has no user with this email address."),
}


def refused(error: Refused):
    title, explanation = PAGES.get(error.code, ("This link could not be used", error.message))
    server_time = None
    if error.code in ("token_expired", "token_not_yet_valid", "link_expired"):
        server_time = when(time.time())
    return render_page(http_status(error), title, explanation, code=error.code, detail=error.message,
                       server_time=server_time)


def render_page(status: int, title: str, explanation: str, *, code: str | None = None, detail: str | None = None,
                server_time: str | None = None, headers: dict | None = None):
    html = render_template("hosted/error.html", tenant=g.get("tenant_info"), status=status, title=title,
                           explanation=explanation, code=code, detail=detail, server_time=server_time)
    return html, status, headers or {}


def not_found():
    return render_page(404, "No such messenger",
                       "There is no workspace at this address. Check the link, or open the messenger from the app.")


def form_expired():
    return render_page(400, "The form expired",
                       "The page was open too long or came from another site. Go back, reload it and try again.")


def too_many(retry_after: int):
    return render_page(429, "Too many attempts", "Wait a few minutes and try again.",
                       headers={"Retry-After": str(retry_after)})
