"""Settings → Login links (owners and admins): the hosted page's rules, code samples, a test link."""
from __future__ import annotations

from flask import render_template

from ...infra.hosts import public_base
from ...services.end_users import login_links
from ...services.workspace import seats
from ...services.errors import Refused
from .. import bp
from ..access import current_workspace
from .identity import signing_sample
from .login_links_forms import LoginLinksForm, TestLinkForm
from .fields import edit_settings


def _page(form=None, test_form=None, test_link=None) -> str:
    workspace = current_workspace()
    base = public_base()
    return render_template(
        "dashboard/settings/login_links.html", tenant=workspace,
        form=form or LoginLinksForm(formdata=None, obj=workspace),
        test_form=test_form or TestLinkForm(formdata=None), test_link=test_link,
        seats_used=seats.used(workspace.id), unsigned_used=seats.used(workspace.id, verified=False),
        sample=signing_sample(workspace),
        page_url=f"{base}/m/{workspace.public_id}",
    )


@bp.route("/settings/login-links", methods=["GET", "POST"])
def settings_login_links():
    form = LoginLinksForm(obj=current_workspace())
    return edit_settings(form, "Login link settings saved.", lambda form: _page(form=form))


@bp.route("/settings/login-links/test-link", methods=["POST"])
def settings_login_links_test():
    form = TestLinkForm()
    if not form.validate_on_submit():
        return _page(test_form=form), 400
    try:
        link = login_links.mint_test_link(current_workspace(), form.user_id.data, public_base())
    except Refused as error:
        form.user_id.errors.append(error.message)
        return _page(test_form=form), 400
    # Shown in this response only: never stored, never shown again.
    return _page(test_form=form, test_link=link), 201
