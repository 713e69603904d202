"""The server API's endpoints: each reads the request, calls one service with the key's tenant, answers JSON."""
from __future__ import annotations

from flask import g, jsonify, request

from ..services.end_users import directory, erasure, org_directory
from ..services.messaging import server_conversations
from . import bp
from .guards import as_key


def _answer(result: tuple[dict, bool]):
    """An upsert's answer: 201 when it created, 200 when it updated."""
    body, created = result
    return jsonify(body), 201 if created else 200


@bp.route("/users", methods=["GET"])
@as_key
def list_users():
    return jsonify(directory.search(g.caller.tenant_id, request.args))


@bp.route("/users/<path:external_id>/export", methods=["GET"])
@as_key
def export_user(external_id: str):
    return jsonify(erasure.export(g.caller.tenant_id, external_id))


@bp.route("/users/<path:external_id>", methods=["GET"])
@as_key
def get_user(external_id: str):
    return jsonify(directory.to_json(directory.get(g.caller.tenant_id, external_id)))


@bp.route("/users/<path:external_id>", methods=["PUT"])
@as_key
def put_user(external_id: str):
    return _answer(directory.upsert(g.caller.tenant, external_id, g.body))


@bp.route("/users/<path:external_id>", methods=["DELETE"])
@as_key
def delete_user(external_id: str):
    return jsonify(erasure.erase(g.caller.tenant_id, external_id))


@bp.route("/organizations", methods=["GET"])
@as_key
def list_organizations():
    return jsonify(org_directory.listing(g.caller.tenant_id, request.args))


@bp.route("/organizations/<path:org_id>", methods=["GET"])
@as_key
def get_organization(org_id: str):
    return jsonify(org_directory.get(g.caller.tenant_id, org_id))


@bp.route("/organizations/<path:org_id>", methods=["PUT"])
@as_key
def put_organization(org_id: str):
    return _answer(org_directory.upsert(g.caller.tenant_id, org_id, g.body))


@bp.route("/organizations/<path:org_id>", methods=["DELETE"])
@as_key
def delete_organization(org_id: str):
    return jsonify(org_directory.remove(g.caller.tenant_id, org_id))


@bp.route("/conversations", methods=["GET"])
@as_key
def list_conversations():
    return jsonify(server_conversations.listing(g.caller.tenant_id, request.args))


@bp.route("/conversations/<conversation_id>", methods=["GET"])
@as_key
def get_conversation(conversation_id: str):
    return jsonify(server_conversations.get(g.caller.tenant_id, conversation_id))


@bp.route("/conversations/<conversation_id>/messages", methods=["POST"])
@as_key
def post_message(conversation_id: str):
    return jsonify(server_conversations.reply(g.caller.tenant_id, conversation_id, g.body, g.caller.public_id)), 201


@bp.route("/conversations/<conversation_id>/close", methods=["POST"])
@as_key
def close_conversation(conversation_id: str):
    return jsonify(server_conversations.set_status(g.caller.tenant_id, conversation_id, "closed"))


@bp.route("/conversations/<conversation_id>/reopen", methods=["POST"])
@as_key
def reopen_conversation(conversation_id: str):
    return jsonify(server_conversations.set_status(g.caller.tenant_id, conversation_id, "open"))
