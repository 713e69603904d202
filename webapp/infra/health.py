"""GET /healthz: `{"status": "ok"}` when the database answers (the contract), and which dependency
is down when one is, within 2 s whatever the dependency does (a frozen server included):

- database down: 503 `{"status": "down", "database": "down", "ratelimit": ...}`;
- rate-limit store (Redis) down: `{"status": "degraded", "database": "ok", "ratelimit": "down"}`,
  200 when requests are served without limits (SIGNET_RATELIMIT_FAIL=open), 503 when they are
  refused (closed). "ratelimit" is "n/a" when the counters live in memory.
"""
from flask import Blueprint, current_app, jsonify
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from . import pgbounds
from ..extensions import db, limiter
from .ratelimit import fails_open, store_state

PROBE_SECONDS = 1.5
bp = Blueprint("health", __name__)


@bp.route("/healthz")
@limiter.exempt
def healthz():
    database = "ok" if _database_answers() else "down"
    ratelimit = store_state()
    if database == "ok" and ratelimit != "down":
        return jsonify({"status": "ok"})
    status = "down" if database == "down" else "degraded"
    code = 200 if status == "degraded" and fails_open() else 503
    headers = {"Retry-After": "5"} if code == 503 else {}
    return jsonify({"status": status, "database": database, "ratelimit": ratelimit}), code, headers


def _database_answers() -> bool:
    if db.engine.dialect.driver == "psycopg" and current_app.config.get("SIGNET_DATABASE_TIMEOUT"):
        return pgbounds.probe(db.engine, PROBE_SECONDS)  # a fresh connection, joined for at most 1.5 s
    try:
        db.session.execute(text("SELECT 1"))
        return True
    except SQLAlchemyError:
        db.session.rollback()
        return False
