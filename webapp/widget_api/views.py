"""The widget endpoints: each parses, calls one service, answers JSON."""
from __future__ import annotations

import time
from functools import wraps

from flask import current_app, g, jsonify, request

from ..errors import api_error, refusal_json
from ..refusals import Refused
from ..services.messaging import conversations
from ..services.end_users import idempotency, identify, sessions
from . import bp


@bp.errorhandler(Refused)
def _refused(error: Refused):
    """Every refusal a service raises, in the contract's shape; its class decides the status.
    `anonymous_not_allowed` also carries the workspace's words for the launcher (`visitorText`)."""
    if error.code == "anonymous_not_allowed":
        return jsonify({"error": {**error.as_dict(), "visitorText": g.tenant_info.anonymous_text}}), 403
    return refusal_json(error)


def with_session(view):
    """Bearer session of this tenant, unexpired, not revoked and still vouched for, else 401 session_invalid."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        g.session = sessions.check(token.strip(), g.tenant_info) if scheme.lower() == "bearer" else None
        if g.session is None:
            return api_error(401, "session_invalid", "The session is missing, unknown, expired or revoked: call set-user again.")
        return view(*args, **kwargs)

    return wrapper


def idempotent(status: int):
    """An optional Idempotency-Key on a creating write (services/end_users/idempotency.py): checked after the
    session and the body parse, before the field rules; a repeat answers the first answer."""

    def decorate(view):
        @wraps(view)
        def wrapper(*args, **kwargs):
            g.idempotency = guard = idempotency.guard_for(g.session, request.headers.get(idempotency.HEADER),
                                                          request.method, request.path, g.body, status)
            first = guard and idempotency.stored(guard)
            if first is None:
                try:
                    return view(*args, **kwargs)
                except idempotency.Taken:  # a concurrent request with this key stored its answer first
                    first = idempotency.stored(guard)
                    if first is None:
                        raise idempotency.in_progress() from None
            response = jsonify(first.body)
            response.status_code = first.status
            response.headers["Idempotent-Replayed"] = "true"
            return response

        return wrapper

    return decorate


@bp.route("/set-user", methods=["POST"])
def set_user():
    result = identify.set_user(g.tenant_info, g.body, visitor_id=request.headers.get("X-Signet-Visitor"), origin=g.origin,
                               read_ahead=g.read_ahead)
    # The answer jsonify would write for {"user": …, "visitorId": …, "session": …, "sessionExpiresAt": …,
    # "sessionExpiresIn": …} (keys sorted, compact), with the user's part written once per snapshot
    # (identify.public_json): a returning user's answer then costs a few string joins.
    dumps = current_app.json.dumps
    text = (f'{{"session":{dumps(result.token)},"sessionExpiresAt":{dumps(sessions.expires_iso(result.session))},'
            # Seconds from now, so a client renews on time whatever its own clock says (issue 16).
            f'"sessionExpiresIn":{max(0, int(result.session.expires_at - time.time()))},'
            f'"user":{identify.public_json(result.user)},"visitorId":{dumps(result.visitor_id)}}}\n')
    return current_app.response_class(text, mimetype="application/json")


@bp.route("/logout", methods=["POST"])
@with_session
def logout():
    sessions.revoke(g.session)
    return "", 204


@bp.route("/conversations", methods=["GET"])
@with_session
def list_conversations():
    return jsonify({"conversations": conversations.list_for(g.session)})


@bp.route("/conversations", methods=["POST"])
@with_session
@idempotent(201)
def start_conversation():
    created = conversations.start(g.session, g.body.get("body"), g.body.get("connectionId"), g.idempotency)
    return jsonify(created), 201


@bp.route("/conversations/<conversation_id>/messages", methods=["GET"])
@with_session
def list_messages(conversation_id: str):
    conversation = conversations.reachable(g.session, conversation_id)
    return jsonify({"messages": conversations.messages(conversation, request.args.get("after"))})


@bp.route("/conversations/<conversation_id>/messages", methods=["POST"])
@with_session
@idempotent(201)
def post_message(conversation_id: str):
    conversation = conversations.reachable(g.session, conversation_id)
    return jsonify(conversations.post_user_message(conversation, g.body.get("body"), g.body.get("clientMessageId"),
                                                   g.idempotency, session=g.session)), 201


@bp.route("/dashboard", methods=["GET"])
@with_session
def user_dashboard():
    return jsonify(conversations.user_dashboard(g.session))
