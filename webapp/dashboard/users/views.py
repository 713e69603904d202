"""Users and Organizations: searchable lists, a page for each, and the users CSV export."""
from __future__ import annotations

from flask import Response, abort, flash, redirect, render_template, request, stream_with_context, url_for

from ...auth.forms import EmptyForm
from ...services.end_users import sessions
from .. import bp, paging
from . import details, directory, export, search


@bp.route("/users", endpoint="users")
def users_page():
    query = directory.UserQuery.from_args(request.args)
    page = directory.users_page(query, paging.Position.from_args(request.args))
    return render_template("dashboard/users.html", query=query, page=page, filters=search.USER_FILTERS)


@bp.route("/users.csv")
def users_csv():
    query = directory.UserQuery.from_args(request.args)
    body = stream_with_context(export.lines(directory.export_rows(query)))
    return Response(body, mimetype="text/csv", headers={
        "Content-Disposition": 'attachment; filename="users.csv"', "Cache-Control": "no-store"})


@bp.route("/users/<id:user_id>")
def user_page(user_id: int):
    user = directory.user_or_404(user_id)
    return render_template("dashboard/user.html", panel=details.panel(user, limit=details.USER_PAGE_CONVERSATIONS))


@bp.route("/users/<id:user_id>/end-sessions", methods=["POST"])
def user_end_sessions(user_id: int):
    """End every widget and hosted-page session of the user, in every process at once. Agents may
    too: it is a safety action (a shared or lost device) that takes nothing away but a session."""
    if not EmptyForm().validate_on_submit():
        abort(400)
    user = directory.user_or_404(user_id)  # this workspace's users only: another's is 404
    if user.anonymous:
        flash("An anonymous visitor has no signed-in sessions to end.", "info")
    else:
        sessions.end_all_for_user(user.tenant_id, user.id)
        flash(f"Every session of {user.display_name} has ended: they identify again on their next visit.",
              "success")
    return redirect(url_for("dashboard.user_page", user_id=user_id), 303)


@bp.route("/organizations", endpoint="organizations")
def organizations_page():
    q = search.clean_query(request.args.get("q"))
    page = directory.organizations_page(q, paging.Position.from_args(request.args))
    return render_template("dashboard/organizations.html", q=q, page=page)


@bp.route("/organizations/<id:org_id>")
def organization_page(org_id: int):
    org = directory.organization_or_404(org_id)
    members = directory.members_page(org, paging.Position.from_args(request.args))
    count = directory.member_counts([org.id]).get(org.id, 0)
    return render_template("dashboard/organization.html", org=org, members=members, count=count)
