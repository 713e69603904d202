from flask import Blueprint

bp = Blueprint("dashboard", __name__)

from . import access, views
from .settings import identity, install, login_links, team  # noqa: E402,F401
