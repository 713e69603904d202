"""GET /api/v1/server/openapi.json: an OpenAPI 3.1 description of the server API (issue 13).

Served without a key (it describes, it holds nothing). Shapes reuse the widget document's
(widget_api/openapi.py), so the user, organization and message objects cannot drift apart.
"""
from __future__ import annotations

from flask import jsonify

from ..services.cursors import MAX_LIMIT
from ..widget_api.openapi import _ATTRS, _ERROR, _MESSAGE, _ORG_IN, _USER_FIELDS, _USER_OUT, bp

_ERRORS = (400, 401, 403, 404, 409, 413, 415, 429, 503)
_TIME = {"type": ["string", "null"]}
_USER = {**_USER_OUT, "properties": {**_USER_OUT["properties"], "createdAt": _TIME, "lastSeenAt": _TIME,
                                     "verifiedAt": _TIME, "howVerified": {"type": "string"}}}
_ORG = {"type": "object", "required": ["id", "name", "attrs"], "properties": {
    "id": {"type": "string"}, "name": {"type": "string"}, "attrs": {"type": "object"},
    "memberCount": {"type": "integer"}, "createdAt": _TIME, "updatedAt": _TIME}}
_CONVERSATION = {"type": "object", "required": ["id", "subject", "status", "updatedAt"], "properties": {
    "id": {"type": "string"}, "subject": {"type": "string"}, "status": {"enum": ["open", "closed"]},
    "updatedAt": {"type": "string"}, "createdAt": {"type": "string"}, "anonymous": {"type": "boolean"},
    "lastMessage": {"oneOf": [_MESSAGE, {"type": "null"}]},
    "user": {"oneOf": [{"type": "null"}, {"type": "object", "properties": {"id": {"type": "string"}}}]},
    "messages": {"type": "array", "items": _MESSAGE}}}
_DELETED = {"type": "object", "required": ["deleted"], "properties": {
    "deleted": {"type": "object", "additionalProperties": {"type": "integer"}}}}


def _page(item: dict) -> dict:
    return {"type": "object", "required": ["data", "next"], "properties": {
        "data": {"type": "array", "items": item}, "next": {"type": ["string", "null"]}}}


def _op(op_id: str, ok: dict, status: int = 200, body: dict | None = None, params: list | None = None,
        created: bool = False) -> dict:
    responses = {str(status): {"description": "OK", "content": {"application/json": {"schema": ok}}}}
    if created:
        responses["201"] = {"description": "Created", "content": {"application/json": {"schema": ok}}}
    responses.update({str(s): {"description": "An error", "content": {"application/json": {"schema": _ERROR}}}
                      for s in _ERRORS})
    op = {"operationId": op_id, "security": [{"apiKey": []}], "responses": responses}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _query(name: str, schema: dict | None = None) -> dict:
    return {"name": name, "in": "query", "required": False, "schema": schema or {"type": "string"}}


def _path(name: str, example: str) -> dict:
    return {"name": name, "in": "path", "required": True, "example": example,
            "schema": {"type": "string", "minLength": 1, "maxLength": 255}}


_PAGING = [_query("cursor"), _query("limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT})]
_USER_BODY = {"type": "object", "additionalProperties": False,
              "properties": {"id": {"type": ["string", "integer"]}, **_USER_FIELDS}}
_ORG_BODY = {"type": "object", "required": ["name"], "additionalProperties": False,
             "properties": {k: v for k, v in _ORG_IN["properties"].items()} | {"attrs": _ATTRS}}
_MESSAGE_BODY = {"type": "object", "required": ["body"], "additionalProperties": False, "properties": {
    "body": {"type": "string", "minLength": 1, "maxLength": 10_000},
    "staffName": {"type": "string", "minLength": 1, "maxLength": 254}}}


def document() -> dict:
    p = "/api/v1/server"
    user, org, conv = _path("external_id", "u-1"), _path("org_id", "o-1"), _path("conversation_id", "conv_x")
    return {
        "openapi": "3.1.0",
        "info": {"title": "Signet server API", "version": "1",
                 "description": "For the tenant's backend: Authorization: Bearer <API key>. No cookies, no CORS."
                                " Errors: {error: {code, message, field?}}. Lists: {data, next}."},
        "components": {"securitySchemes": {"apiKey": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            f"{p}/users": {"get": _op("listUsers", _page(_USER), params=[
                _query("q"), _query("email"), _query("verified", {"enum": ["true", "false"]}),
                _query("organization"), *_PAGING])},
            f"{p}/users/{{external_id}}": {"parameters": [user],
                                           "get": _op("getUser", _USER),
                                           "put": _op("upsertUser", _USER, body=_USER_BODY, created=True),
                                           "delete": _op("eraseUser", _DELETED)},
            f"{p}/users/{{external_id}}/export": {"parameters": [user], "get": _op("exportUser", {
                "type": "object", "required": ["user", "organizations", "conversations", "sessions"]})},
            f"{p}/organizations": {"get": _op("listOrganizations", _page(_ORG), params=_PAGING)},
            f"{p}/organizations/{{org_id}}": {"parameters": [org],
                                              "get": _op("getOrganization", _ORG),
                                              "put": _op("upsertOrganization", _ORG, body=_ORG_BODY, created=True),
                                              "delete": _op("deleteOrganization", _DELETED)},
            f"{p}/conversations": {"get": _op("listConversations", _page(_CONVERSATION), params=[
                _query("status", {"enum": ["open", "closed"]}), _query("user"), *_PAGING])},
            f"{p}/conversations/{{conversation_id}}": {"parameters": [conv],
                                                       "get": _op("getConversation", _CONVERSATION)},
            f"{p}/conversations/{{conversation_id}}/messages": {"parameters": [conv], "post": _op(
                "postStaffMessage", _MESSAGE, 201, body=_MESSAGE_BODY)},
            f"{p}/conversations/{{conversation_id}}/close": {"parameters": [conv],
                                                             "post": _op("closeConversation", _CONVERSATION)},
            f"{p}/conversations/{{conversation_id}}/reopen": {"parameters": [conv],
                                                              "post": _op("reopenConversation", _CONVERSATION)},
        },
    }


@bp.route("/api/v1/server/openapi.json")
def server_openapi_json():
    return jsonify(document())
