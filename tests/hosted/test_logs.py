"""Secrets in hosted-page URLs never reach a log: the middleware, then a real gunicorn access log."""
from __future__ import annotations

import logging
import time
import urllib.error
import urllib.request
from urllib.parse import quote

import jwt
import pytest

from webapp.extensions import db
from webapp.hosted.logsafe import AUTH_CODE_KEY, EMAIL_TOKEN_KEY, scrub
from webapp.services.keys import keyring
from webapp.services.end_users import identify, snapshots
from webapp.services.workspace import tenants

from ..conftest import PASSWORD
from ..servers import Server, migrated_app


@pytest.mark.parametrize("query, code, kept", [
    ("externalAuthCode=a.b.c", "a.b.c", ""),
    ("x=1&externalAuthCode=a.b.c&y=2", "a.b.c", "x=1&y=2"),
    ("external%41uthCode=a.b.c&x=1", "a.b.c", "x=1"),  # a percent-encoded name is still the code
    ("externalauthcode=a.b.c&x=1", None, "x=1"),  # another letter case: not a code, still removed
    ("externalAuthCode=first&externalAuthCode=second", "first", ""),
    ("externalAuthCode=", "", ""),
])
def test_the_code_leaves_every_url_key(query, code, kept):
    environ = {"PATH_INFO": "/m/acme", "QUERY_STRING": query, "RAW_URI": f"/m/acme?{query}",
               "REQUEST_URI": f"/m/acme?{query}"}
    scrub(environ)
    assert environ.get(AUTH_CODE_KEY) == code
    assert environ["QUERY_STRING"] == kept
    assert environ["RAW_URI"] == environ["REQUEST_URI"] == ("/m/acme?" + kept if kept else "/m/acme")


def test_other_queries_are_left_alone():
    environ = {"PATH_INFO": "/api/v1/widget/t/conversations/1/messages", "QUERY_STRING": "after=5",
               "RAW_URI": "/api/v1/widget/t/conversations/1/messages?after=5"}
    before = dict(environ)
    scrub(environ)
    assert environ == before


def test_the_email_token_leaves_the_path():
    environ = {"PATH_INFO": "/m/acme/email/SECRETTOKEN", "QUERY_STRING": "",
               "RAW_URI": "/m/acme/email/SECRETTOKEN", "REQUEST_URI": "/m/acme/email/SECRETTOKEN"}
    scrub(environ)
    assert environ[EMAIL_TOKEN_KEY] == "SECRETTOKEN"
    assert "SECRETTOKEN" not in repr({k: v for k, v in environ.items() if k != EMAIL_TOKEN_KEY})
    assert environ["PATH_INFO"] == environ["RAW_URI"] == "/m/acme/email/redacted"


def test_the_security_headers_look_for_the_token_where_the_middleware_puts_it():
    """infra/security.py names the environ key itself (it cannot import the hosted package)."""
    from webapp.infra import security

    assert security._EMAIL_TOKEN_KEY == EMAIL_TOKEN_KEY


def test_flask_never_sees_the_code_in_the_request_url(app, client, caplog):
    seen = {}

    @app.before_request
    def record():
        from flask import request
        seen["url"], seen["args"] = request.url, dict(request.args)

    caplog.set_level(logging.DEBUG)
    client.get("/m/no-such-workspace?externalAuthCode=abc.def.ghi&x=1")
    assert seen == {"url": "http://localhost/m/no-such-workspace?x=1", "args": {"x": "1"}}
    assert "abc.def.ghi" not in caplog.text


SECRET_KEY = "access-log-test-secret-key"


@pytest.fixture
def live(tmp_path):
    """gunicorn with its access log on, a workspace with a signing secret and a user."""
    url, app = migrated_app(tmp_path, SECRET_KEY, "logs.sqlite3")
    with app.app_context():
        tenant = tenants.create_tenant("Logs", "logs@example.com", PASSWORD)
        row, secret = keyring.create_secret(tenant)
        tenants.update_settings(tenant, tenants.Settings(login_links_enabled=True))
        identify.set_user(snapshots.tenant(tenant.public_id), {"id": "u-1", "email": "jane@example.com"})
        public_id, kid = tenant.public_id, row.kid
        db.session.remove()
        db.engine.dispose()
    log = tmp_path / "access.log"
    server = Server({"SIGNET_DATABASE_URL": url, "SIGNET_SECRET_KEY": SECRET_KEY, "SIGNET_TEST_LOG_DIR": str(tmp_path)},
                    access_log=str(log))
    yield server, log, public_id, kid, secret
    server.stop()


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _get(url: str) -> tuple[int, dict]:
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(url, timeout=10) as response:
            return response.status, dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers)


def _wait_for(log, needle: str, timeout: float = 10, lines: int = 0) -> str:
    """The access log once it holds `needle` and at least `lines` requests: gunicorn's threads
    write a request's line after its answer, so the line of the request before the last one may
    come after the last one's."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        text = log.read_text() if log.exists() else ""
        if needle in text and text.count('"GET ') >= lines:
            return text
        time.sleep(0.05)
    raise AssertionError(f"{needle!r} or {lines} requests never reached the access log: {text!r}")


def test_the_code_never_reaches_gunicorns_access_log(live):
    server, log, public_id, kid, secret = live
    code = jwt.encode({"user": {"id": "u-1"}, "exp": int(time.time()) + 300, "jti": "log-test"}, secret,
                      algorithm="HS256", headers={"kid": kid})
    status, headers = _get(f"{server.url}/m/{public_id}?externalAuthCode={quote(code)}&utm_source=mail")
    assert status == 303 and headers["Location"] == f"/m/{public_id}"
    assert headers["Referrer-Policy"] == "no-referrer"
    # A refused code (replayed) and an email sign-in token go through the same logs.
    assert _get(f"{server.url}/m/{public_id}?externalAuthCode={quote(code)}")[0] == 401
    assert _get(f"{server.url}/m/{public_id}/email/EMAILTOKENabcdefghijklmnopqrstuvwxyz012345")[0] == 400

    # Each line waited for (a missing one fails the test): a request's line is written after its
    # answer, so it may come after the next request's (once, in CI, the 401's came after the last one's).
    for line in (f'"GET /m/{public_id}/email/redacted HTTP/1.1" 400', f'"GET /m/{public_id} HTTP/1.1" 401',
                 f'"GET /m/{public_id}?utm_source=mail HTTP/1.1" 303'):
        text = _wait_for(log, line)
    everything = text + server.output()
    for fragment in (code, *code.split("."), code[-20:], "externalAuthCode", "EMAILTOKEN"):
        assert fragment not in everything


# --- Every spelling of a secret URL (issue 20 #12) ----------------------------------------------

TOKEN = "SECRETtokenABCDEFGHIJKLMNOPQRSTUVWXYZ0123456"
SPELLINGS = [
    "/m/acme/email/{t}", "//m/acme/email/{t}", "/m//acme/email/{t}", "/m/acme//email/{t}", "/m/acme/email//{t}",
    "/m/acme/./email/{t}", "/./m/acme/email/{t}", "/x/../m/acme/email/{t}", "/m/acme/email/{t}/",
    "/m/acme/email/{t}/..", "/m/acme/email/../email/{t}", "/M/acme/EMAIL/{t}", "/m/acme/email/{t}/extra",
]


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_spelling_of_the_email_path_is_redacted(spelling):
    path = spelling.format(t=TOKEN)
    environ = {"PATH_INFO": path, "QUERY_STRING": "x=1", "RAW_URI": path + "?x=1", "REQUEST_URI": path + "?x=1"}
    scrub(environ)
    assert environ[EMAIL_TOKEN_KEY] == TOKEN
    assert TOKEN not in repr({k: v for k, v in environ.items() if k != EMAIL_TOKEN_KEY})
    assert environ["RAW_URI"] == environ["REQUEST_URI"] == environ["PATH_INFO"] + "?x=1"


@pytest.mark.parametrize("raw", ["/m/acme/%65mail/{t}", "/%6D/acme/email/{t}", "/m/acme%2Femail%2F{t}",
                                 "http://127.0.0.1/m/acme/email/{t}"])
def test_a_percent_encoded_or_absolute_raw_uri_is_rebuilt(raw):
    """The server decodes the path into PATH_INFO; RAW_URI keeps the client's spelling, so it
    is rebuilt from the scrubbed path rather than edited."""
    environ = {"PATH_INFO": f"/m/acme/email/{TOKEN}", "QUERY_STRING": "", "RAW_URI": raw.format(t=TOKEN)}
    scrub(environ)
    assert environ[EMAIL_TOKEN_KEY] == TOKEN and environ["RAW_URI"] == "/m/acme/email/redacted"


@pytest.mark.parametrize("path", ["/password/reset/{t}", "/account/verify/{t}", "/invitations/{t}",
                                  "/invitations/{t}/accept", "//password//reset/{t}"])
def test_staff_one_time_links_are_redacted_too(path):
    environ = {"PATH_INFO": path.format(t=TOKEN), "QUERY_STRING": "", "RAW_URI": path.format(t=TOKEN)}
    scrub(environ)
    assert environ[EMAIL_TOKEN_KEY] == TOKEN and TOKEN not in environ["PATH_INFO"] + environ["RAW_URI"]


def test_routes_beside_the_token_routes_are_left_alone():
    for path in ("/account/verify/resend", "/account/verify", "/invitations", "/m/acme/email"):
        environ = {"PATH_INFO": path, "QUERY_STRING": "", "RAW_URI": path}
        scrub(environ)
        assert environ["PATH_INFO"] == environ["RAW_URI"] == path and EMAIL_TOKEN_KEY not in environ


@pytest.mark.parametrize("spelling", ["//m/{p}/email/{t}", "/m//{p}/email/{t}", "/m/{p}//email/{t}",
                                      "/m/{p}/./email/{t}", "/m/{p}/email/{t}/"])
def test_no_redirect_location_echoes_a_token(app, client, spelling):
    """Werkzeug answers `//a` with a 308 to `/a` (merge_slashes), Location and all: the path it
    sees is already the normalised, redacted one, so it never redirects with the token."""
    from .conftest import make_tenant

    tenant = make_tenant(app)
    response = client.get(spelling.format(p=tenant.public_id, t=TOKEN))
    assert response.status_code in (400, 404)  # an unknown link's page, or no such page
    assert TOKEN not in repr(dict(response.headers)) + response.get_data(as_text=True)
    code = tenant.sign({"user": {"id": "u-1"}})
    response = client.get(f"//m/{tenant.public_id}?externalAuthCode={quote(code)}")
    assert code not in repr(dict(response.headers)) + response.get_data(as_text=True)


def _raw_get(server, target: str) -> tuple[int, str]:
    """A request line sent exactly as written (urllib would normalise some spellings)."""
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.putrequest("GET", target, skip_host=True, skip_accept_encoding=True)
    conn.putheader("Host", f"127.0.0.1:{server.port}")
    conn.endheaders()
    response = conn.getresponse()
    response.read()
    conn.close()
    return response.status, repr(response.getheaders())


def test_no_spelling_puts_a_secret_in_gunicorns_access_log(live):
    server, log, public_id, kid, secret = live
    code = jwt.encode({"user": {"id": "u-1"}, "exp": int(time.time()) + 300}, secret, algorithm="HS256",
                      headers={"kid": kid})
    targets = [s.format(t=TOKEN).replace("acme", public_id) for s in SPELLINGS] + [
        f"/m/{public_id}/%65mail/{TOKEN}", f"/%6D/{public_id}/email/{TOKEN}", f"/m/{public_id}%2Femail%2F{TOKEN}",
        f"/password/reset/{TOKEN}", f"//invitations/{TOKEN}/accept",
        f"/m/{public_id}?EXTERNALAUTHCODE={quote(code)}", f"/m/{public_id}?externalauthcode={quote(code)}&a=1",
        f"/m/{public_id}?externalAuthCode=x&externalAuthCode={quote(code)}", f"/m/{public_id}?external%41uthCode={quote(code)}",
        f"//m/{public_id}?externalAuthCode={quote(code)}", f"/m/{public_id}/?externalAuthCode={quote(code)}",
    ]
    answers = [_raw_get(server, target) for target in targets]
    assert _raw_get(server, "/healthz?done=1")[0] == 200
    text = _wait_for(log, "/healthz?done=1", lines=len(targets) + 1)
    assert text.count('"GET ') >= len(targets) + 1  # each logged (and the start-up health check)
    everything = text + server.output() + repr(answers)
    for fragment in (TOKEN, TOKEN[:20], TOKEN[-20:], code, *code.split(".")):
        assert fragment not in everything
    assert all(status != 500 for status, _ in answers)
