"""Settings through one path (CLEAR, one field definition per setting) and one tenant type per face
on `g` (the dashboard's ORM row, the widget API's and hosted page's snapshot, one Protocol)."""
import pytest
from flask import g, request_finished
from sqlalchemy import select

from webapp.dashboard.settings import forms, identity_forms, install_forms, login_links_forms
from webapp.extensions import db
from webapp.models import Tenant
from webapp.services.end_users import snapshots
from webapp.services.workspace import tenants
from webapp.services.errors import Invalid
from webapp.services.end_users.snapshots import TenantInfo, TenantSettings

from .helpers import post_form


def _row(app, public_id):
    with app.app_context():
        row = db.session.scalar(select(Tenant).where(Tenant.public_id == public_id))
        db.session.expunge(row)
        return row


def test_clear_removes_a_setting_and_the_word_none_is_the_cli_s_alone(app, factory):
    public_id = factory.tenant().public_id
    with app.app_context():
        tenant = tenants.get_tenant(public_id)
        tenants.update_settings(tenant, tenants.Settings(seat_limit=3, login_links_max_age=60, issuer="https://i"))
        for spelled in ("none", "NONE", ""):  # the CLI's words, not the service's
            with pytest.raises(Invalid) as refused:
                tenants.update_settings(tenant, tenants.Settings(seat_limit=spelled))
            assert refused.value.field == "seat_limit"
        tenants.update_settings(tenant, tenants.Settings(seat_limit=tenants.CLEAR, login_links_max_age=tenants.CLEAR,
                                                         issuer=tenants.CLEAR))
    row = _row(app, public_id)
    assert (row.seat_limit, row.login_links_max_age, row.issuer) == (None, None, None)
    assert repr(tenants.CLEAR) == "CLEAR"


def _rules(unbound) -> list:
    return [(type(v), {k: x for k, x in vars(v).items() if not callable(x)})
            for v in unbound.kwargs.get("validators") or []]


@pytest.mark.parametrize("setting", ["seat_limit", "unsigned_user_limit", "login_links_max_age", "email_sign_in",
                                     "verification_mode", "audience", "issuer", "allowed_origins"])
def test_a_setting_shown_on_two_pages_has_one_definition(setting):
    """Labels may be worded per page; the kind of field, its rules and its choices are the same."""
    pages = [form for form in (forms.WorkspaceForm, identity_forms.VerificationForm, install_forms.OriginsForm,
                               login_links_forms.LoginLinksForm) if hasattr(form, setting)]
    assert len(pages) >= 2
    fields = [getattr(form, setting) for form in pages]
    first = fields[0]
    for other in fields[1:]:
        assert other.field_class is first.field_class
        assert _rules(other) == _rules(first)
        assert other.kwargs.get("choices") == first.kwargs.get("choices")


def test_an_emptied_limit_on_either_page_clears_it(app, owner_client):
    public_id = owner_client.tenant.public_id
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(public_id), tenants.Settings(seat_limit=9, unsigned_user_limit=4))
    response = post_form(owner_client, "/settings/login-links", {"seat_limit": "", "unsigned_user_limit": "",
                                                                 "login_links_max_age": "", "email_sign_in": "off"})
    assert response.status_code == 302
    row = _row(app, public_id)
    assert (row.seat_limit, row.unsigned_user_limit) == (None, None)


def test_both_tenant_forms_satisfy_the_protocol_services_take(app, factory):
    public_id = factory.tenant().public_id
    with app.app_context():
        row = tenants.get_tenant(public_id)
        info = snapshots.tenant(public_id)
        assert isinstance(row, TenantSettings) and isinstance(info, TenantSettings)
        names = [n for n in vars(TenantSettings) if not n.startswith("_")]
        assert names and all(getattr(row, n) == getattr(info, n) or n == "allowed_origins" for n in names)
        assert set(names) <= set(TenantInfo.__dataclass_fields__)


def _tenant_on_g(app, client, path):
    seen = {}

    def record(sender, response, **extra):
        seen.update(workspace=g.get("workspace"), tenant_info=g.get("tenant_info"), tenant=g.get("tenant"))

    with request_finished.connected_to(record, app):
        client.get(path)
    return seen


def test_each_face_names_its_tenant_on_g(app, owner_client):
    public_id = owner_client.tenant.public_id
    dashboard = _tenant_on_g(app, owner_client, "/settings/workspace")
    assert isinstance(dashboard["workspace"], Tenant) and dashboard["workspace"].public_id == public_id
    assert dashboard["tenant_info"] is None and dashboard["tenant"] is None
    for path in (f"/api/v1/widget/{public_id}/conversations", f"/m/{public_id}"):
        face = _tenant_on_g(app, app.test_client(), path)
        assert isinstance(face["tenant_info"], TenantInfo) and face["tenant_info"].public_id == public_id, path
        assert face["workspace"] is None and face["tenant"] is None, path
