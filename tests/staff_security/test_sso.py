"""Single sign-on for staff (issue 17, item 2) through the test client against a local OIDC
provider: settings (owners only, secret sealed at rest, domain unique), a sign-in creating a
member, SSO-only refusing passwords, and every refusal (wrong state, wrong nonce, another
client's token, an expired one, another domain) refused with a page and audited."""
from __future__ import annotations

import re
import time
import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import AuditEntry, Member, Membership, SsoProvider

from ..conftest import PASSWORD
from ..helpers import login, post_form
from .oidc_provider import Provider


@pytest.fixture
def app(private_urls_app):
    return private_urls_app


@pytest.fixture
def idp():
    provider = Provider()
    yield provider
    provider.stop()


def configure(client, idp, domain="corp.example", sso_only=False, role="agent"):
    data = {"issuer": idp.issuer, "client_id": idp.client_id, "client_secret": idp.client_secret,
            "email_domain": domain, "default_role": role}
    if sso_only:
        data["sso_only"] = "y"
    return post_form(client, "/settings/sso", data)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def through_provider(client, email="alice@corp.example", tweak=None):
    """Start SSO for `email`, let the provider answer, and come back to the callback: the response."""
    start = post_form(client, "/login/sso", {"email": email})
    html = start.get_data(as_text=True)
    assert start.status_code == 200 and 'http-equiv="refresh"' in html, html[:400]
    authorize = re.search(r'<a class="button" href="([^"]+)"', html).group(1).replace("&amp;", "&")
    try:
        urllib.request.build_opener(_NoRedirect).open(authorize, timeout=5)
        raise AssertionError("the provider should redirect")
    except urllib.error.HTTPError as back:
        location = back.headers["Location"]
    parts = urlsplit(location)
    query = tweak(parts.query) if tweak else parts.query
    return client.get(f"{parts.path}?{query}")


def audit(app, action):
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def test_owner_configures_secret_sealed_and_audited_without_it(app, as_role, idp):
    owner = as_role("owner")
    assert as_role("admin").get("/settings/sso").status_code == 403
    assert configure(owner, idp).status_code == 302
    page = owner.get("/settings/sso").get_data(as_text=True)
    assert "corp.example" in page and idp.client_secret not in page
    [entry] = audit(app, "sso.changed")
    assert entry.actor == owner.tenant.owner and entry.after["client_secret"] == "set"
    assert idp.client_secret not in str(entry.before) + str(entry.after)
    with app.app_context():
        row = db.session.scalar(select(SsoProvider))
        assert idp.client_secret not in row.client_secret_ciphertext
    db_files = list(Path(app.instance_path).glob("test.sqlite3*"))
    assert db_files and all(idp.client_secret.encode() not in f.read_bytes() for f in db_files)
    # Another workspace cannot claim the same domain.
    other = as_role("owner")
    response = configure(other, idp)
    assert response.status_code == 400 and "Another workspace" in response.get_data(as_text=True)


def test_sso_sign_in_creates_a_verified_member_with_the_default_role(app, as_role, idp):
    owner = as_role("owner")
    configure(owner, idp, role="admin")
    browser = app.test_client()
    response = through_provider(browser)
    assert response.status_code == 302 and response.headers["Location"] in ("/", "/inbox", "http://localhost/")
    assert browser.get("/account/sessions").status_code == 200
    assert "single sign-on" in browser.get("/account/sessions").get_data(as_text=True)
    with app.app_context():
        member = db.session.scalar(select(Member).where(Member.email == "alice@corp.example"))
        assert member.is_verified
        link = db.session.scalar(select(Membership).where(Membership.member_id == member.id))
        assert (link.tenant_id, link.role) == (owner.tenant.id, "admin")
    [added] = [e for e in audit(app, "member.added") if e.target == "alice@corp.example"]
    assert added.after == {"role": "admin", "via": "sso"} and added.actor == "alice@corp.example"
    [logged_in] = audit(app, "member.login")[-1:]
    assert logged_in.after == {"method": "sso"} and logged_in.actor == "alice@corp.example"
    # The token request carried the PKCE verifier, and the second sign-in just logs in.
    assert idp.token_requests[-1]["code_verifier"]
    assert through_provider(app.test_client()).status_code == 302
    assert len([e for e in audit(app, "member.added") if e.target == "alice@corp.example"]) == 1


def test_sso_only_domain_refuses_passwords_with_a_clear_message(app, as_role, factory, idp):
    owner = as_role("owner")
    configure(owner, idp, sso_only=True)
    factory.member(owner.tenant, "agent", email="bob@corp.example")
    response = login(app.test_client(), "bob@corp.example", PASSWORD)
    assert response.status_code == 403
    assert "single sign-on only" in response.get_data(as_text=True)
    assert login(app.test_client(), owner.tenant.owner, PASSWORD).status_code == 302  # other domains: passwords


def _refused(app, response, words):
    html = response.get_data(as_text=True)
    assert response.status_code == 400 and words in html, html[:1000]
    entries = audit(app, "sso.login_failed")
    assert entries and words.split()[0] in entries[-1].after["reason"]
    with app.app_context():
        assert db.session.scalar(select(Member).where(Member.email == "alice@corp.example")) is None
    return entries


def test_wrong_state_refused_and_audited(app, as_role, idp):
    configure(as_role("owner"), idp)
    response = through_provider(app.test_client(), tweak=lambda q: q.replace("state=", "state=x"))
    _refused(app, response, "state does not match")


def test_wrong_nonce_refused_and_audited(app, as_role, idp):
    configure(as_role("owner"), idp)
    idp.tamper = {"nonce": "someone-elses-nonce"}
    _refused(app, through_provider(app.test_client()), "nonce is not the one")


def test_id_token_for_another_client_refused_and_audited(app, as_role, idp):
    configure(as_role("owner"), idp)
    idp.tamper = {"aud": "another-client"}
    _refused(app, through_provider(app.test_client()), "token_bad_audience")


def test_expired_id_token_refused_and_audited(app, as_role, idp):
    configure(as_role("owner"), idp)
    idp.tamper = {"exp": int(time.time()) - 3600, "iat": int(time.time()) - 7200}
    _refused(app, through_provider(app.test_client()), "token_expired")


def test_an_address_of_another_domain_is_refused(app, as_role, idp):
    owner = as_role("owner")
    configure(owner, idp)
    idp.email = owner.tenant.owner  # the provider speaks for another workspace's owner: never
    response = through_provider(app.test_client())
    assert response.status_code == 400 and "corp.example only" in response.get_data(as_text=True)


def test_a_callback_without_a_started_sign_in_is_refused(app):
    response = app.test_client().get("/login/sso/callback?code=x&state=y")
    assert response.status_code == 400 and "start again" in response.get_data(as_text=True)
