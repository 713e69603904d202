from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import access, identity_views, install_views, login_links_views, settings, views  # noqa: E402,F401
