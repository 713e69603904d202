"""The dashboard shell: home and the member-facing sections."""
from flask import redirect, render_template, url_for

from . import bp


@bp.route("/")
def home():
    return redirect(url_for("dashboard.inbox"))


@bp.route("/inbox")
def inbox():
    return render_template("dashboard/inbox.html")


@bp.route("/users")
def users():
    return render_template("dashboard/users.html")


@bp.route("/organizations")
def organizations():
    return render_template("dashboard/organizations.html")
