"""The baselines for bench/set_user.py: a bare Flask JSON endpoint, served the same way, and the
same endpoint plus one database round trip (`/echo-db`, `SELECT 1` on a connection each process
keeps to BARE_DATABASE_URL: the floor of any endpoint that reads PostgreSQL once)."""
import os

from flask import Flask, jsonify, request

app = Flask(__name__)
_connection = []


@app.post("/echo")
def echo():
    body = request.get_json()
    return jsonify({"ok": True, "id": body.get("id") if isinstance(body, dict) else None})


@app.post("/echo-db")
def echo_db():
    if not _connection:
        import psycopg

        _connection.append(psycopg.connect(os.environ["BARE_DATABASE_URL"].replace("+psycopg", ""), autocommit=True))
    body = request.get_json()
    one = _connection[0].execute("SELECT 1").fetchone()[0]
    return jsonify({"ok": one == 1, "id": body.get("id") if isinstance(body, dict) else None})


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
