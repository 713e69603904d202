"""Signup, login, logout and switching workspace."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import abort, flash, g, redirect, render_template, request, session, url_for
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_required, login_user, logout_user

from ..extensions import db, limiter, login_manager
from ..models import Member
from ..services import members, tenants
from ..services.errors import ServiceError
from . import bp
from .forms import EmptyForm, LoginForm, SignupForm

LOGIN_LIMIT = "10 per 15 minutes"

login_manager.login_view = "auth.login"
login_manager.login_message = "Log in to continue."


@login_manager.user_loader
def _load_member(cookie_id: str) -> Member | None:
    member_id, _, version = cookie_id.partition(":")
    if not member_id.isdigit():
        return None
    member = db.session.get(Member, int(member_id))
    return member if member is not None and str(member.session_version) == version else None


def safe_next(target: str | None) -> str | None:
    """Only a relative path on this site: never another host, scheme or `//host`."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    parts = urlsplit(target)
    return target if not parts.scheme and not parts.netloc else None


def _login_failed(_response) -> bool:
    return bool(g.get("login_failed"))


def _email_key() -> str:
    return "login-email:" + (request.form.get("email") or "").strip().lower()


def _address_key() -> str:
    return "login-address:" + (get_remote_address() or "")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(LOGIN_LIMIT, key_func=_address_key, methods=["POST"], deduct_when=_login_failed)
@limiter.limit(LOGIN_LIMIT, key_func=_email_key, methods=["POST"], deduct_when=_login_failed)
def login():
    if current_user.is_authenticated:
        return redirect(url_for("dashboard.home"))
    form = LoginForm(next=request.args.get("next", ""))
    if form.validate_on_submit():
        member = members.authenticate(form.email.data, form.password.data)
        if member is not None:
            start_session(member)
            return redirect(safe_next(form.next.data) or url_for("dashboard.home"))
        g.login_failed = True
        form.password.errors.append("Wrong email or password.")
    return render_template("auth/login.html", form=form), 200 if not form.errors else 401


@bp.route("/signup", methods=["GET", "POST"])
def signup():
    form = SignupForm()
    if form.validate_on_submit():
        try:
            tenant = tenants.create_tenant(form.workspace.data, form.email.data, form.password.data)
        except ServiceError as error:
            db.session.rollback()
            getattr(form, _signup_field(error.field)).errors.append(error.message)
        else:
            member = members.find_member(form.email.data)
            start_session(member, tenant.id)
            flash("Your workspace is ready. Next: install the snippet.", "success")
            return redirect(url_for("dashboard.home"))
    return render_template("auth/signup.html", form=form), 200 if not form.errors else 400


def _signup_field(field: str | None) -> str:
    return {"name": "workspace", "email": "email", "password": "password"}.get(field or "", "workspace")


def start_session(member: Member, tenant_id: int | None = None) -> None:
    """A fresh session: nothing of a previous one survives a login."""
    session.clear()
    login_user(member)
    session.permanent = True
    links = members.memberships_of(member)
    chosen = next((m for m in links if m.tenant_id == tenant_id), links[0] if links else None)
    session["tenant"] = chosen.tenant_id if chosen else None


@bp.route("/logout", methods=["GET", "POST"])
def logout():
    form = EmptyForm()
    if request.method == "GET":
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login"))
        return render_template("auth/logout.html", form=form)
    if not form.validate_on_submit():
        abort(400)
    if current_user.is_authenticated:
        members.end_sessions(current_user._get_current_object())
    logout_user()
    session.clear()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.route("/switch/<id:tenant_id>", methods=["POST"])
@login_required
def switch(tenant_id: int):
    if not EmptyForm().validate_on_submit():
        abort(400)
    if members.membership(current_user.id, tenant_id) is None:
        abort(404)
    session["tenant"] = tenant_id
    return redirect(url_for("dashboard.home"))


@bp.route("/workspaces/new", methods=["GET", "POST"])
@login_required
def no_workspace():
    """Create a further workspace; also where a member with none lands."""
    from .forms import NewWorkspaceForm

    form = NewWorkspaceForm()
    if form.validate_on_submit():
        try:
            tenant = tenants.create_tenant_for(current_user, form.workspace.data)
        except ServiceError as error:
            db.session.rollback()
            form.workspace.errors.append(error.message)
        else:
            session["tenant"] = tenant.id
            return redirect(url_for("dashboard.home"))
    has_any = bool(members.memberships_of(current_user))
    return render_template("auth/new_workspace.html", form=form, has_any=has_any)
