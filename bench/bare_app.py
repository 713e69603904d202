"""The baseline for bench/set_user.py: a bare Flask JSON endpoint, served the same way."""
from flask import Flask, jsonify, request

app = Flask(__name__)


@app.post("/echo")
def echo():
    body = request.get_json()
    return jsonify({"ok": True, "id": body.get("id") if isinstance(body, dict) else None})


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
