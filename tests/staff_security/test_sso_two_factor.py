"""Security review: a single sign-on session stands in for two-factor only in the workspace whose
provider made it. Before, an SSO session satisfied "require two-factor" in every workspace the
member belonged to, so a member of A (SSO) and B (two-factor required, no SSO) reached B's
dashboard with A's provider alone."""
from __future__ import annotations

from sqlalchemy import select, update

from webapp.extensions import db
from webapp.models import DashboardSession, Tenant

from ..helpers import post_form
from .test_sso import app, configure, idp, through_provider  # noqa: F401 (fixtures)


def _require_two_factor(app, *tenant_ids):
    with app.app_context():
        db.session.execute(update(Tenant).where(Tenant.id.in_(tenant_ids)).values(require_two_factor=True))
        db.session.commit()


def test_an_sso_session_counts_as_two_factor_only_in_its_providers_workspace(app, as_role, factory, idp):
    owner_a = as_role("owner")
    assert configure(owner_a, idp).status_code == 302
    workspace_a = owner_a.tenant
    workspace_b = factory.tenant("Other")
    factory.member(workspace_b, "agent", email="alice@corp.example")
    _require_two_factor(app, workspace_a.id, workspace_b.id)

    browser = app.test_client()
    assert through_provider(browser).status_code == 302
    with app.app_context():
        [row] = db.session.scalars(select(DashboardSession).where(DashboardSession.method == "sso")).all()
        assert row.sso_tenant_id == workspace_a.id
    assert post_form(browser, f"/switch/{workspace_a.id}", {}, page="/account/security").status_code == 302
    assert browser.get("/inbox").status_code == 200  # A's provider vouches for its own workspace

    assert post_form(browser, f"/switch/{workspace_b.id}", {}, page="/inbox").status_code == 302
    for path in ("/inbox", "/users", "/"):
        assert browser.get(path).headers.get("Location") == "/account/security", path
    assert browser.get("/account/security").status_code == 200

    # Back in A, the SSO session still stands in for two-factor.
    assert post_form(browser, f"/switch/{workspace_a.id}", {}, page="/account/security").status_code == 302
    assert browser.get("/inbox").status_code == 200
