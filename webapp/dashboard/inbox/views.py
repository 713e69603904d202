"""The inbox: conversations, the open thread, replies, close and reopen, and the JSON the page polls."""
from __future__ import annotations

from flask import abort, flash, jsonify, redirect, render_template, request, url_for

from ...auth.forms import EmptyForm
from ...refusals import Conflict, Invalid
from ...services.messaging import conversations, inbox, senders
from .. import bp, paging
from . import threads
from ..access import current_membership, current_workspace
from .forms import ReplyForm


@bp.route("/inbox", endpoint="inbox")
def inbox_page():
    return _page(request.args.get("c") or None)


@bp.route("/inbox/<public_id>")
def inbox_thread(public_id: str):
    return _page(public_id)


def _page(public_id: str | None, form: ReplyForm | None = None, status: int = 200):
    query = threads.InboxQuery.from_args(request.args)
    thread = threads.open_thread(public_id) if public_id else None  # first: the list then shows it read
    page = threads.conversations_page(query, paging.Position.from_args(request.args))
    return render_template("dashboard/inbox.html", query=query, page=page, thread=thread,
                           form=form or ReplyForm(formdata=None), action_form=EmptyForm(),
                           sender_label=senders.label, sender_verified=senders.verified), status


def _back_to(public_id: str, anchor: str = ""):
    args = threads.InboxQuery.from_args(request.args).args()
    return redirect(url_for("dashboard.inbox_thread", public_id=public_id, **args) + anchor)


@bp.route("/inbox/<public_id>/reply", methods=["POST"])
def inbox_reply(public_id: str):
    threads.conversation_or_404(public_id)
    form = ReplyForm()
    if form.validate_on_submit():
        try:
            message = conversations.staff_reply(current_workspace().id, current_membership().member, public_id,
                                                form.body.data)
        except Invalid as error:
            form.body.errors.append(error.message)
        except conversations.NotReachable:
            abort(404)
        else:
            return _back_to(public_id, f"#m-{message['id']}")
    return _page(public_id, form=form, status=400)


@bp.route("/inbox/<public_id>/close", methods=["POST"])
def inbox_close(public_id: str):
    return _set_status(public_id, "closed", "Conversation closed.")


@bp.route("/inbox/<public_id>/reopen", methods=["POST"])
def inbox_reopen(public_id: str):
    return _set_status(public_id, "open", "Conversation reopened.")


def _set_status(public_id: str, status: str, done: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    conversation = threads.conversation_or_404(public_id)
    try:
        inbox.set_status(conversation.id, status)
    except Conflict as error:  # already so (another tab or a colleague was first): nothing changed
        flash(error.message, "error")
        return _page(public_id, status=409)
    flash(done, "success")
    return _back_to(public_id)


@bp.route("/inbox/<public_id>/messages.json")
def inbox_messages(public_id: str):
    """New messages of the open thread since `?after=<message id>` (all of them without it)."""
    conversation = threads.conversation_or_404(public_id)
    items = threads.poll(conversation, request.args.get("after") or None)
    return jsonify({"messages": items, "status": conversation.status, "unread": conversation.unread_by_staff})


@bp.route("/inbox/updates.json")
def inbox_updates():
    """The current unread marker and status of the conversations a page lists (`?ids=a,b,…`)."""
    rows = threads.watched(request.args.get("ids", "").split(","))
    return jsonify({"conversations": [
        {"id": c.public_id, "unread": c.unread_by_staff, "status": c.status,
         "updatedAt": conversations.iso(c.updated_at)} for c in rows]})
