"""The dashboard shell: home, and the modules of the member-facing sections."""
from flask import redirect, url_for

from . import bp


@bp.route("/")
def home():
    return redirect(url_for("dashboard.inbox"))


from .inbox import views
from .users import views  # noqa: E402,F401  (register the Inbox, Users and Organizations pages)
