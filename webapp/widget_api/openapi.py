"""GET /api/v1/openapi.json: an OpenAPI 3.1 description of the widget API (API.md §3)."""
from __future__ import annotations

from flask import Blueprint, jsonify

from ..extensions import limiter
from ..identity.fields import MAX_ATTRS, MAX_EMAIL_CHARS, MAX_NAME_CHARS, MAX_URL_CHARS
from ..identity.jose import MAX_TOKEN_BYTES
from ..services.messaging.conversations import MAX_BODY

# Every limit below is the checker's own constant (identity/fields.py, jose.py, conversations.py),
# never a number typed again here: the document cannot drift from what the API enforces.

bp = Blueprint("api_docs", __name__)

_ERROR = {
    "type": "object", "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message"], "properties": {
        "code": {"type": "string"}, "message": {"type": "string"}, "field": {"type": "string"}}}},
}
_ATTRS = {"type": ["object", "null"], "maxProperties": MAX_ATTRS,
          "additionalProperties": {"type": ["string", "number", "boolean", "null"]}}
_ID = {"type": ["string", "integer"]}
_ORG_IN = {"type": "object", "required": ["id", "name"], "additionalProperties": False, "properties": {
    "id": _ID, "name": {"type": "string", "minLength": 1, "maxLength": MAX_NAME_CHARS}, "attrs": _ATTRS}}
_USER_FIELDS = {
    "email": {"type": ["string", "null"], "maxLength": MAX_EMAIL_CHARS},
    "name": {"type": ["string", "null"], "maxLength": MAX_NAME_CHARS},
    "avatarUrl": {"type": ["string", "null"], "maxLength": MAX_URL_CHARS},
    "attrs": _ATTRS,
    "organizations": {"type": ["array", "null"], "items": _ORG_IN},
}
_USER_OUT = {"type": "object", "required": ["id", "verified", "anonymous"], "properties": {
    "id": {"type": ["string", "null"]}, "email": {"type": ["string", "null"]}, "name": {"type": ["string", "null"]},
    "avatarUrl": {"type": ["string", "null"]}, "attrs": {"type": "object"},
    "organizations": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "string"}, "name": {"type": "string"}, "attrs": {"type": "object"}}}},
    "verified": {"type": "boolean"}, "anonymous": {"type": "boolean"}}}
_MESSAGE = {"type": "object", "required": ["id", "author", "body", "createdAt"], "properties": {
    "id": {"type": "string"}, "author": {"enum": ["user", "staff"]}, "body": {"type": "string"},
    "createdAt": {"type": "string", "format": "date-time"}, "staffName": {"type": "string"},
    "clientMessageId": {"type": "string"}}}
_CONVERSATION = {"type": "object", "required": ["id", "subject", "status", "updatedAt", "lastMessage"], "properties": {
    "id": {"type": "string"}, "subject": {"type": "string"}, "status": {"enum": ["open", "closed"]},
    "updatedAt": {"type": "string", "format": "date-time"}, "lastMessage": {"oneOf": [_MESSAGE, {"type": "null"}]}}}


def _errors(*statuses: int) -> dict:
    return {str(s): {"description": "An error", "content": {"application/json": {"schema": _ERROR}}} for s in statuses}


def _ok(status: int, schema: dict | None) -> dict:
    if schema is None:
        return {str(status): {"description": "Done"}}
    return {str(status): {"description": "OK", "content": {"application/json": {"schema": schema}}}}


def _body(schema: dict) -> dict:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


_COMMON = (403, 404, 413, 415, 429)
# An extension (docs/CONTRACT-NOTES.md, "Idempotency"): a repeat within 24 hours answers the first answer.
_IDEMPOTENCY_KEY = {"name": "Idempotency-Key", "in": "header", "required": False,
                    "description": "Retry-safe creation: a repeat within 24 hours (same session subject) answers the"
                                   " first answer and creates nothing; the key with another request is 409"
                                   " idempotency_key_reused.",
                    "schema": {"type": "string", "pattern": "^[ -~]{1,255}$"}}
_CLIENT_MESSAGE_ID = {"type": "string", "pattern": "^[A-Za-z0-9_-]{1,64}$",
                      "description": "The client's own id for the message, unique within the conversation: a repeat"
                                     " answers the stored message (another text: 409 idempotency_key_reused)."}
_SESSION = [{"session": []}]
_TENANT = {"name": "tenant_id", "in": "path", "required": True, "schema": {"type": "string"}}
_CONVERSATION_ID = {"name": "conversation_id", "in": "path", "required": True, "schema": {"type": "string"}}

SET_USER_BODY = {"oneOf": [
    {"title": "unsigned or anonymous", "type": "object", "required": ["id"], "additionalProperties": False,
     "properties": {"id": {"type": ["string", "integer", "null"]}, **_USER_FIELDS}},
    {"title": "signed", "type": "object", "required": ["jwt"], "additionalProperties": False,
     "properties": {"jwt": {"type": "string", "maxLength": MAX_TOKEN_BYTES}}},
    {"title": "login link", "type": "object", "required": ["externalAuthCode"], "additionalProperties": False,
     "properties": {"externalAuthCode": {"type": "string", "maxLength": MAX_TOKEN_BYTES}}},
]}


def document() -> dict:
    prefix = "/api/v1/widget/{tenant_id}"
    return {
        "openapi": "3.1.0",
        "info": {"title": "Signet widget API", "version": "1",
                 "description": "What signet.js calls. Errors: {error: {code, message, field?}}."},
        "components": {"securitySchemes": {"session": {"type": "http", "scheme": "bearer"}}},
        "paths": {
            f"{prefix}/set-user": {"parameters": [_TENANT], "post": {
                "operationId": "setUser", "requestBody": _body(SET_USER_BODY),
                "parameters": [{"name": "X-Signet-Visitor", "in": "header", "required": False, "schema": {"type": "string"}}],
                "responses": {**_ok(200, {"type": "object", "required": ["user", "visitorId", "session", "sessionExpiresAt"],
                                          "properties": {"user": _USER_OUT, "visitorId": {"type": "string"},
                                                         "session": {"type": "string"},
                                                         "sessionExpiresAt": {"type": "string"},
                                                         "sessionExpiresIn": {"type": "integer"}}}),
                              **_errors(400, 401, *_COMMON)}}},
            f"{prefix}/logout": {"parameters": [_TENANT], "post": {
                "operationId": "logout", "security": _SESSION,
                "responses": {**_ok(204, None), **_errors(401, *_COMMON)}}},
            f"{prefix}/conversations": {"parameters": [_TENANT], "get": {
                "operationId": "listConversations", "security": _SESSION,
                "responses": {**_ok(200, {"type": "object", "properties": {"conversations": {"type": "array", "items": _CONVERSATION}}}),
                              **_errors(401, *_COMMON)}},
                "post": {"operationId": "startConversation", "security": _SESSION, "parameters": [_IDEMPOTENCY_KEY],
                         "requestBody": _body({"type": "object", "required": ["body"], "properties": {
                             "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY},
                             "connectionId": {"type": "string", "maxLength": 255}}}),
                         "responses": {**_ok(201, _CONVERSATION), **_errors(400, 401, 409, *_COMMON)}}},
            f"{prefix}/conversations/{{conversation_id}}/messages": {"parameters": [_TENANT, _CONVERSATION_ID], "get": {
                "operationId": "listMessages", "security": _SESSION,
                "parameters": [{"name": "after", "in": "query", "required": False, "schema": {"type": "string"}}],
                "responses": {**_ok(200, {"type": "object", "properties": {"messages": {"type": "array", "items": _MESSAGE}}}),
                              **_errors(401, *_COMMON)}},
                "post": {"operationId": "postMessage", "security": _SESSION, "parameters": [_IDEMPOTENCY_KEY],
                         "requestBody": _body({"type": "object", "required": ["body"], "properties": {
                             "body": {"type": "string", "minLength": 1, "maxLength": MAX_BODY},
                             "clientMessageId": _CLIENT_MESSAGE_ID}}),
                         "responses": {**_ok(201, _MESSAGE), **_errors(400, 401, 409, *_COMMON)}}},
            f"{prefix}/dashboard": {"parameters": [_TENANT], "get": {
                "operationId": "dashboard", "security": _SESSION,
                "responses": {**_ok(200, {"type": "object", "required": ["scope", "conversations"]}),
                              **_errors(401, *_COMMON)}}},
        },
    }


@bp.route("/api/v1/openapi.json")
@limiter.exempt
def openapi_json():
    response = jsonify(document())
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response
