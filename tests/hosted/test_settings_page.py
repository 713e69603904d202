"""Settings → Login links: owners and admins only, settings through the tenants service, a test link."""
from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from webapp.services.keys import keyring
from webapp.services.workspace import tenants

from ..conftest import PASSWORD
from ..helpers import csrf_of, login, post_form
from .conftest import add_signed_user, add_user, make_tenant

PAGE = "/settings/login-links"
TEST_LINK = "/settings/login-links/test-link"
LINK = re.compile(r'id="test-link"[^>]*value="([^"]+)"')


@pytest.fixture
def admin(app, factory):
    """A logged-in admin of a workspace with a signing secret and login links on; client.tenant."""
    tenant = make_tenant(app)
    email = factory.member(tenant, "admin")
    client = app.test_client()
    assert login(client, email, PASSWORD).status_code == 302
    client.tenant = tenant
    return client


def tenant_of(app, public_id):
    with app.app_context():
        return tenants.to_dict(tenants.get_tenant(public_id))


@pytest.mark.parametrize("method", ["get", "post"])
@pytest.mark.parametrize("path", [PAGE, TEST_LINK])
def test_agents_are_refused(as_role, method, path):
    agent = as_role("agent")
    if method == "get":
        assert agent.get(path).status_code == 403
    else:  # with a valid CSRF token, so the refusal is the role's
        assert post_form(agent, path, {"user_id": "u-1", "email_sign_in": "off"}, page="/logout").status_code == 403


def test_the_page_shows_seats_and_code_samples_for_this_workspace(app, admin):
    tenant = admin.tenant
    add_signed_user(app, tenant, "u-1")
    add_signed_user(app, tenant, "u-2")
    add_user(app, tenant, "walk-in")  # unsigned: counted apart, takes no seat
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(tenant.public_id),
                                tenants.Settings(seat_limit=10, unsigned_user_limit=5))
    body = admin.get(PAGE).get_data(as_text=True)
    assert "Seats used: <strong>2</strong> of 10" in body
    assert "Unsigned users: <strong>1</strong> of 5" in body
    audience = f"signet:{tenant.public_id}"  # a new workspace's own audience, set by every sample
    for needle in ("jsonwebtoken", 'from "jose"', "PyJWT", tenant.public_id, tenant.secret_kid,
                   f'audience: "{audience}"', f'.setAudience("{audience}")', f'"aud": "{audience}"',
                   f"http://localhost/m/{tenant.public_id}?externalAuthCode="):
        assert needle in body, needle
    assert tenant.secret not in body


def test_saving_the_settings_goes_through_the_tenant_rules(app, admin):
    public_id = admin.tenant.public_id
    data = {"login_links_enabled": "y", "login_links_require_jti": "y", "login_links_max_age": "300",
            "seat_limit": "5", "unsigned_user_limit": "7", "email_sign_in": "create"}
    assert post_form(admin, PAGE, data).status_code == 302
    saved = tenant_of(app, public_id)
    assert (saved["login_links"], saved["login_links_require_jti"], saved["login_links_max_age"],
            saved["seat_limit"], saved["unsigned_user_limit"], saved["email_sign_in"]) == ("on", True, 300, 5, 7, "create")

    cleared = {"login_links_max_age": "", "seat_limit": "", "unsigned_user_limit": "",
               "email_sign_in": "off"}  # as a browser sends them
    assert post_form(admin, PAGE, cleared).status_code == 302
    saved = tenant_of(app, public_id)
    assert (saved["login_links"], saved["login_links_max_age"], saved["seat_limit"], saved["unsigned_user_limit"],
            saved["email_sign_in"]) == ("off", None, None, None, "off")


@pytest.mark.parametrize("data", [{"login_links_max_age": "0", "email_sign_in": "existing"},
                                  {"seat_limit": "-1", "email_sign_in": "existing"},
                                  {"unsigned_user_limit": "-1", "email_sign_in": "existing"},
                                  {"email_sign_in": "everyone"}])
def test_invalid_settings_change_nothing(app, admin, data):
    before = tenant_of(app, admin.tenant.public_id)
    assert post_form(admin, PAGE, data).status_code == 400
    assert tenant_of(app, admin.tenant.public_id) == before


def test_the_forms_need_their_csrf_token(app, admin):
    before = tenant_of(app, admin.tenant.public_id)
    assert admin.post(PAGE, data={"email_sign_in": "off"}).status_code == 400
    assert admin.post(TEST_LINK, data={"user_id": "u-1"}).status_code == 400
    assert tenant_of(app, admin.tenant.public_id) == before


def test_a_test_link_signs_the_user_in_once(app, admin):
    add_user(app, admin.tenant, "u-1", name="Jane")
    response = post_form(admin, TEST_LINK, {"user_id": "u-1"}, page=PAGE)
    assert response.status_code == 201
    url = LINK.search(response.get_data(as_text=True)).group(1).replace("&amp;", "&")
    assert 'data-copy="test-link"' in response.get_data(as_text=True)
    parts = urlsplit(url)
    assert parts.path == f"/m/{admin.tenant.public_id}" and parts.query.startswith("externalAuthCode=")
    browser = app.test_client()
    assert browser.get(f"{parts.path}?{parts.query}").status_code == 303
    assert "Signed in as <strong>Jane</strong>" in browser.get(parts.path).get_data(as_text=True)
    assert browser.get(f"{parts.path}?{parts.query}").status_code == 401  # one-time
    assert re.search(r'<input[^>]* checked id="login_links_enabled"', response.get_data(as_text=True))
    # Nothing is kept: the page shows no link afterwards.
    assert LINK.search(admin.get(PAGE).get_data(as_text=True)) is None


def test_a_test_link_names_the_id_exactly_as_stored(app, admin):
    """Ids are kept as sent (spaces included): the test link finds " spaced " and not "spaced"."""
    add_user(app, admin.tenant, " spaced ", name="Spaced")
    assert post_form(admin, TEST_LINK, {"user_id": " spaced "}, page=PAGE).status_code == 201
    assert post_form(admin, TEST_LINK, {"user_id": "spaced"}, page=PAGE).status_code == 400


def test_a_test_link_obeys_a_strict_policy(app, admin):
    add_user(app, admin.tenant, "u-1")
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(admin.tenant.public_id),
                                tenants.Settings(login_links_require_jti=True, login_links_max_age=60))
    response = post_form(admin, TEST_LINK, {"user_id": "u-1"}, page=PAGE)
    url = urlsplit(LINK.search(response.get_data(as_text=True)).group(1).replace("&amp;", "&"))
    assert app.test_client().get(f"{url.path}?{url.query}").status_code == 303


def test_a_test_link_needs_an_existing_user_and_a_secret(app, admin):
    response = post_form(admin, TEST_LINK, {"user_id": "nobody"}, page=PAGE)
    assert response.status_code == 400 and "No user of this workspace has this id" in response.get_data(as_text=True)
    add_user(app, admin.tenant, "u-1")
    with app.app_context():
        keyring.revoke(tenants.get_tenant(admin.tenant.public_id), admin.tenant.secret_kid)
    response = post_form(admin, TEST_LINK, {"user_id": "u-1"}, page=PAGE)
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "no active signing secret" in body and LINK.search(body) is None
    assert "You have no signing secret yet" in admin.get(PAGE).get_data(as_text=True)


def test_the_page_is_in_the_settings_menu(admin):
    body = admin.get("/settings/workspace").get_data(as_text=True)
    assert f'href="{PAGE}"' in body and ">Login links</a>" in body
    assert csrf_of(admin.get(PAGE).get_data(as_text=True))
