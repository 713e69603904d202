"""Accepting a team invitation: the mailed token AND being signed in as its address, or a new
account made from the link (services/workspace/invitations.py holds the rules).

The token stays out of every URL but the mailed link's own: a visitor who must log in first has
it kept in the (signed) session cookie and comes back to `/invitations/pending`, never to a
`/login?next=/invitations/<token>` that access logs and Referer headers would carry."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, session, url_for
from flask_login import current_user

from ..errors import http_status, page_error
from ..infra.security import csrf_without_referrer
from ..services.workspace import invitations
from ..services.errors import LinkRefused, Refused
from ..services.workspace.invitations import WrongAccount
from . import bp
from .account_views import NO_REFERRER
from .forms import EmptyForm, NewPasswordForm
from .views import PENDING_INVITATION as PENDING, start_session


@bp.route("/invitations/pending")
def invitation_pending():
    """The invitation this browser was sent to log in for (its token is in the session)."""
    token = session.get(PENDING)
    if not token:
        return page_error(400, "No invitation is waiting in this browser: open the link in the mail again.",
                          NO_REFERRER)
    return invitation(token)


@bp.route("/invitations/<token>")
def invitation(token: str):
    """What the invitation offers; reads only. Accept (signed in as its address), log in, or
    create the account."""
    try:
        row = invitations.describe(token)
    except LinkRefused as refused:
        return page_error(http_status(refused), refused.message, NO_REFERRER)
    return _page(row, token, NewPasswordForm())


def _page(row, token: str, signup_form: NewPasswordForm, status: int = 200):
    me = current_user.email if current_user.is_authenticated else None
    return render_template("auth/invitation.html", invitation=row, token=token, me=me, form=EmptyForm(),
                           signup_form=signup_form), status, NO_REFERRER


@bp.route("/invitations/<token>/accept", methods=["POST"])
@csrf_without_referrer
def invitation_accept(token: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    try:
        if not current_user.is_authenticated:  # log in first; the token waits in the session, not in a URL
            invitations.describe(token)
            session[PENDING] = token
            return redirect(url_for("auth.login", next=url_for("auth.invitation_pending")))
        link = invitations.accept(token, current_user._get_current_object())
    except LinkRefused as refused:
        return page_error(http_status(refused), refused.message, NO_REFERRER)
    except WrongAccount as error:
        return page_error(http_status(error), error.message, NO_REFERRER)
    session.pop(PENDING, None)
    session["tenant"] = link.tenant_id
    flash(f"You joined {link.tenant.name} as {link.role}.", "success")
    return redirect(url_for("dashboard.home"))


@bp.route("/invitations/<token>/signup", methods=["POST"])
@csrf_without_referrer
def invitation_signup(token: str):
    """A new account for the invited address: the link proves it."""
    form = NewPasswordForm()
    try:
        row = invitations.describe(token)
        if form.validate_on_submit():
            member = invitations.sign_up_and_accept(token, form.password.data)
            start_session(member, row.tenant_id)
            flash(f"Welcome to {row.tenant.name}.", "success")
            return redirect(url_for("dashboard.home"))
    except LinkRefused as refused:
        return page_error(http_status(refused), refused.message, NO_REFERRER)
    except Refused as error:
        form.password.errors.append(error.message)
    return _page(row, token, form, 400)
