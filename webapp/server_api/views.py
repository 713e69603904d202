"""The server API's endpoints: each reads the request, calls one service with the key's tenant, answers JSON."""
from __future__ import annotations

from flask import g, request

from ..services.end_users import directory, erasure, org_directory
from ..services.messaging import server_conversations
from .guards import endpoint


def _answer(result: tuple[dict, bool]):
    """An upsert's answer: 201 when it created, 200 when it updated."""
    body, created = result
    return body, 201 if created else 200


@endpoint("GET", "/users")
def list_users():
    return directory.search(g.caller.tenant_id, request.args)


@endpoint("GET", "/users/<path:external_id>/export")
def export_user(external_id: str):
    return erasure.export(g.caller.tenant_id, external_id)


@endpoint("GET", "/users/<path:external_id>")
def get_user(external_id: str):
    return directory.to_json(directory.get(g.caller.tenant_id, external_id))


@endpoint("PUT", "/users/<path:external_id>")
def put_user(external_id: str):
    return _answer(directory.upsert(g.caller.tenant, external_id, g.body))


@endpoint("DELETE", "/users/<path:external_id>")
def delete_user(external_id: str):
    return erasure.erase(g.caller.tenant_id, external_id)


@endpoint("GET", "/organizations")
def list_organizations():
    return org_directory.listing(g.caller.tenant_id, request.args)


@endpoint("GET", "/organizations/<path:org_id>")
def get_organization(org_id: str):
    return org_directory.get(g.caller.tenant_id, org_id)


@endpoint("PUT", "/organizations/<path:org_id>")
def put_organization(org_id: str):
    return _answer(org_directory.upsert(g.caller.tenant_id, org_id, g.body))


@endpoint("DELETE", "/organizations/<path:org_id>")
def delete_organization(org_id: str):
    return org_directory.remove(g.caller.tenant_id, org_id)


@endpoint("GET", "/conversations")
def list_conversations():
    return server_conversations.listing(g.caller.tenant_id, request.args)


@endpoint("GET", "/conversations/<conversation_id>")
def get_conversation(conversation_id: str):
    return server_conversations.get(g.caller.tenant_id, conversation_id)


@endpoint("POST", "/conversations/<conversation_id>/messages")
def post_message(conversation_id: str):
    return server_conversations.reply(g.caller.tenant_id, conversation_id, g.body, g.caller.public_id), 201


@endpoint("POST", "/conversations/<conversation_id>/close")
def close_conversation(conversation_id: str):
    return server_conversations.set_status(g.caller.tenant_id, conversation_id, "closed")


@endpoint("POST", "/conversations/<conversation_id>/reopen")
def reopen_conversation(conversation_id: str):
    return server_conversations.set_status(g.caller.tenant_id, conversation_id, "open")
