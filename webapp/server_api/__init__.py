"""/api/v1/server/…: the JSON API a tenant's backend calls with an API key (issue 13).

Not for browsers: bearer API keys only (no cookie is read, no CORS header is ever sent, CSRF does
not apply), the widget API's error shape, cursor pagination. Views are thin; the rules live in
services/end_users/{directory,org_directory,erasure}.py, services/messaging/server_conversations.py
and services/keys/apikeys.py.
"""
from flask import Blueprint

bp = Blueprint("server_api", __name__, url_prefix="/api/v1/server")

from . import guards, openapi, views  # noqa: E402,F401  (openapi: /api/v1/server/openapi.json on the api_docs blueprint)
