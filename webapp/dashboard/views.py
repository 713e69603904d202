"""The dashboard shell: its home is the inbox."""
from flask import redirect, url_for

from . import bp


@bp.route("/")
def home():
    return redirect(url_for("dashboard.inbox"))
