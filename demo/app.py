"""A demo customer site: a SaaS app that embeds Signet and signs its users on its backend.

`make run` serves it on http://localhost:5001 (a second origin) next to Signet on
http://127.0.0.1:5000. It reads the demo workspace that `signet demo` wrote to instance/demo.json.
"""
from __future__ import annotations

import json
import os
import time
import uuid
from pathlib import Path

import jwt
from flask import Flask, jsonify, make_response, render_template, request

ROOT = Path(__file__).resolve().parent.parent
SIGNET_URL = os.environ.get("SIGNET_DEMO_SIGNET_URL", "http://127.0.0.1:5000")

# The demo's own "user database": who can sign in to Acme CRM.
USERS = {
    "jane": {"id": "demo-jane", "name": "Jane Doe", "email": "jane@example.com",
             "avatarUrl": None, "attrs": {"plan": "pro", "seats": 25},
             "organizations": [{"id": "acme", "name": "Acme Corp", "attrs": {"industry": "Retail"}}],
             "ctx": {"role": "admin", "orgId": "acme"}},
    "bob": {"id": "demo-bob", "name": "Bob Stone", "email": "bob@example.com", "avatarUrl": None,
            "attrs": {"plan": "starter"}, "organizations": [{"id": "acme", "name": "Acme Corp"}], "ctx": {}},
}

app = Flask(__name__, template_folder=str(Path(__file__).parent / "templates"))


def demo_workspace() -> dict:
    return json.loads((ROOT / "instance" / "demo.json").read_text())


@app.get("/")
def home():
    who = request.cookies.get("demo_user")
    user = USERS.get(who)
    response = make_response(render_template(
        "demo.html", signet_url=SIGNET_URL, tenant_id=demo_workspace()["tenant_id"], user=user, users=USERS))
    return response


@app.post("/sign-in/<name>")
def sign_in(name: str):
    response = make_response("", 303)
    response.headers["Location"] = "/"
    if name in USERS:
        response.set_cookie("demo_user", name, httponly=True, samesite="Lax")
    return response


@app.post("/sign-out")
def sign_out():
    response = make_response("", 303)
    response.headers["Location"] = "/?signed_out=1"
    response.delete_cookie("demo_user")
    return response


@app.get("/signet-token")
def signet_token():
    """What a customer's backend does: sign the signed-in user's data for Signet (HS256 + kid)."""
    user = USERS.get(request.cookies.get("demo_user"))
    if user is None:
        return jsonify({"error": "not signed in"}), 401
    workspace = demo_workspace()
    claims = {key: value for key, value in user.items() if value is not None}
    claims.update({"tid": workspace["tenant_id"], "aud": "signet-widget", "iat": int(time.time()),
                   "exp": int(time.time()) + 600, "jti": str(uuid.uuid4())})
    token = jwt.encode(claims, workspace["secret"], algorithm="HS256", headers={"kid": workspace["kid"]})
    return jsonify({"token": token})


@app.get("/favicon.ico")
def favicon():
    return "", 204


@app.get("/healthz")
def healthz():
    return jsonify({"status": "ok"})
