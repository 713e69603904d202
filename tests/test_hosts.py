"""Links are never built from an untrusted Host header (issue 20 #3, API.md §9 "Absolute URLs").

A request with `Host: evil.example` used to get the victim a mailed sign-in link to the
attacker's host. Now: SIGNET_PUBLIC_URL, when set, is the base of every link; otherwise only a
host in SIGNET_TRUSTED_HOSTS (loopback names when neither is set) is answered at all.
"""
from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from webapp import create_app
from webapp.config import trusted_hosts
from webapp.extensions import db
from webapp.models import EmailSignIn
from webapp.infra import background

from .conftest import PASSWORD
from .helpers import csrf_of, login
from .hosted.conftest import add_signed_user, make_tenant

EVIL = "evil.example"


@pytest.fixture
def jane(app):
    tenant = make_tenant(app)
    add_signed_user(app, tenant, "u-jane", email="jane@example.com")
    return tenant


def ask_as(client, tenant, host: str):
    """Jane's email typed into the sign-in form, the POST sent with `host` as its Host header
    (the form, its CSRF token and cookie fetched the ordinary way first)."""
    token = csrf_of(client.get(tenant.page).get_data(as_text=True))
    same_cookie_for(client, host)
    response = client.post(f"{tenant.page}/email", data={"email": "jane@example.com", "csrf_token": token},
                           base_url=f"http://{host}")
    assert background.wait_idle()
    return response


def same_cookie_for(client, host: str) -> None:
    """The browser session's cookie, as if that browser had been sent to `host`."""
    cookie = client.get_cookie("signet_session")
    if cookie is not None:
        client.set_cookie("signet_session", cookie.value, domain=host.partition(":")[0])


def links_made(app) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(EmailSignIn))


def mailed_link(smtp) -> str:
    [message] = smtp.wait_for(1)
    return re.search(r"\S+/email/\S+", message.get_payload(decode=True).decode()).group(0)


def test_with_nothing_configured_a_forged_host_is_refused_and_nothing_is_mailed(app, client, jane, smtp):
    response = ask_as(client, jane, EVIL)
    assert response.status_code == 400 and "SIGNET_TRUSTED_HOSTS" in response.get_data(as_text=True)
    assert EVIL not in response.get_data(as_text=True)  # the host is never echoed
    assert links_made(app) == 0 and smtp.messages == []
    # The loopback names this default trusts still work, and the link uses them.
    assert ask_as(client, jane, "localhost").status_code == 200
    assert mailed_link(smtp).startswith(f"http://localhost/m/{jane.public_id}/email/")


def test_the_public_url_is_the_base_whatever_the_host(app, client, jane, smtp):
    app.config["SIGNET_PUBLIC_URL"] = "https://chat.example.com"
    app.config["TRUSTED_HOSTS"] = None  # as create_app leaves it when only SIGNET_PUBLIC_URL is set
    assert ask_as(client, jane, EVIL).status_code == 200
    link = mailed_link(smtp)
    assert link.startswith(f"https://chat.example.com/m/{jane.public_id}/email/") and EVIL not in link


def test_trusted_hosts_answer_and_others_are_refused(app, client, jane, smtp):
    app.config["TRUSTED_HOSTS"] = ["chat.example.com", "localhost"]
    assert ask_as(client, jane, EVIL).status_code == 400
    assert ask_as(client, jane, "chat.example.com.evil.example").status_code == 400
    assert links_made(app) == 0
    assert ask_as(client, jane, "chat.example.com").status_code == 200
    assert mailed_link(smtp).startswith(f"http://chat.example.com/m/{jane.public_id}/email/")


def test_an_entry_with_a_port_pins_the_port(app, client):
    app.config["TRUSTED_HOSTS"] = ["chat.example.com:8443", ".example.org"]
    assert client.get("/login", headers={"Host": "chat.example.com:8443"}).status_code == 200
    assert client.get("/login", headers={"Host": "chat.example.com:6666"}).status_code == 400
    assert client.get("/login", headers={"Host": "chat.example.com"}).status_code == 400  # port 80
    assert client.get("/login", headers={"Host": "eu.example.org:81"}).status_code == 200  # any port
    assert client.get("/login", headers={"Host": "example.org.evil.example"}).status_code == 400


def test_the_json_api_and_the_health_check_refuse_with_the_contract_shape(client):
    for path in ("/healthz", "/api/v1/widget/nope/set-user"):
        response = client.get(path, headers={"Host": EVIL})
        assert response.status_code == 400
        assert response.get_json()["error"]["code"] == "untrusted_host"


def test_shown_links_use_only_trusted_bases(app, client):
    """The Install and Login links pages show absolute URLs too (snippets, the hosted page)."""
    tenant = make_tenant(app)
    assert login(client, tenant.owner, PASSWORD).status_code == 302
    same_cookie_for(client, EVIL)
    for path in ("/settings/install", "/settings/login-links"):
        assert client.get(path, base_url=f"http://{EVIL}").status_code == 400
    app.config["SIGNET_PUBLIC_URL"] = "https://chat.example.com"
    app.config["TRUSTED_HOSTS"] = None
    same_cookie_for(client, EVIL)
    for path in ("/settings/install", "/settings/login-links"):
        page = client.get(path, base_url=f"http://{EVIL}")
        assert page.status_code == 200 and "https://chat.example.com" in page.get_data(as_text=True)
        assert EVIL not in page.get_data(as_text=True)


@pytest.mark.parametrize("value, hosts", [
    ("chat.example.com", ["chat.example.com"]),
    (" Chat.Example.com:8443 , .example.org,localhost ", ["chat.example.com:8443", ".example.org", "localhost"]),
    ("", None),
    (None, None),
])
def test_the_setting_is_parsed(value, hosts):
    assert trusted_hosts(value) == hosts


@pytest.mark.parametrize("value", ["http://chat.example.com", "chat.example.com/", "[::1]", "a b", "host:99999",
                                   "host:", "*.example.com"])
def test_a_malformed_setting_stops_the_start(value):
    with pytest.raises(ValueError, match="SIGNET_TRUSTED_HOSTS"):
        trusted_hosts(value)


def test_the_environment_reaches_werkzeug(tmp_path, monkeypatch):
    monkeypatch.setenv("SIGNET_TRUSTED_HOSTS", "chat.example.com")
    monkeypatch.delenv("SIGNET_PUBLIC_URL", raising=False)
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"}, instance_path=str(tmp_path))
    assert app.config["TRUSTED_HOSTS"] == ["chat.example.com"]
    monkeypatch.delenv("SIGNET_TRUSTED_HOSTS")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"}, instance_path=str(tmp_path))
    assert app.config["TRUSTED_HOSTS"] == ["localhost", "127.0.0.1"]  # neither set: loopback only
    monkeypatch.setenv("SIGNET_PUBLIC_URL", "https://chat.example.com/")
    app = create_app({"SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.sqlite3'}"}, instance_path=str(tmp_path))
    assert app.config["TRUSTED_HOSTS"] is None and app.config["SIGNET_PUBLIC_URL"] == "https://chat.example.com"


def test_a_forged_host_never_makes_its_origin_signets_own(app, client, jane):
    """Signet's own origin is always allowed on the widget API. With SIGNET_PUBLIC_URL set any Host
    is answered (links ignore it), so a page whose Origin equals the Host it forged (DNS
    rebinding) must not pass as Signet's own origin past the workspace's allowed origins."""
    from webapp.services.workspace import tenants

    app.config["SIGNET_PUBLIC_URL"] = "https://chat.example.com"
    app.config["TRUSTED_HOSTS"] = None
    with app.app_context():
        tenants.update_settings(tenants.get_tenant(jane.public_id),
                                tenants.Settings(allowed_origins=["https://app.customer.example"]))

    def preflight(origin: str, host: str):
        return client.options(f"/api/v1/widget/{jane.public_id}/set-user", base_url=f"http://{host}",
                              headers={"Origin": origin, "Access-Control-Request-Method": "POST"})

    assert preflight(f"http://{EVIL}", EVIL).status_code == 403
    assert preflight("https://chat.example.com", EVIL).status_code == 204
    assert preflight("https://app.customer.example", "chat.example.com").status_code == 204
