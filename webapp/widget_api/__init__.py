"""/api/v1/widget/<tenant_id>/…: the JSON API the widget calls cross-origin (API.md §3)."""
from flask import Blueprint

bp = Blueprint("widget_api", __name__, url_prefix="/api/v1/widget/<tenant_id>")

from . import guards, views  # noqa: E402,F401
