from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import access, views, settings  # noqa: E402,F401
