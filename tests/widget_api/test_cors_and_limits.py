"""Origins and CORS, body size and type, seats and the rate limit (API.md §2, §3)."""
from __future__ import annotations

import pytest

from webapp.extensions import db
from webapp.models import Conversation, EndUser

from ..conftest import make_app
from .conftest import ORIGIN, assert_error, call, count, identify, make_tenant, set_user, settings, sign

REFUSED_ORIGINS = ["null", "https://evil.example", "https://app.example.com.evil.example", "https://app.example.co",
                   "http://app.example.com", "https://app.example.com:8443", "https://app.example.com/",
                   "https://evilapp.example.com"]


@pytest.fixture
def guarded(app, tenant):
    """The tenant with a list of two allowed origins."""
    settings(app, tenant, allowed_origins=[ORIGIN, "https://admin.example.com"])
    return tenant


def varies_on_origin(response) -> bool:
    return "origin" in {v.strip().lower() for line in response.headers.getlist("Vary") for v in line.split(",")}


def no_cors(response):
    assert "Access-Control-Allow-Origin" not in response.headers
    assert "Access-Control-Allow-Methods" not in response.headers


@pytest.mark.parametrize("origin", REFUSED_ORIGINS)
def test_origin_not_allowed_everywhere(app, client, guarded, origin):
    session = identify(client, {"id": "u-1"})["session"]
    conversations = count(app, Conversation)
    responses = [
        set_user(client, {"id": "u-2"}, origin=origin),
        call(client, "GET", "conversations", session=session, origin=origin),
        call(client, "POST", "conversations", {"body": "hi"}, session=session, origin=origin),
        call(client, "OPTIONS", "set-user", origin=origin,
             headers={"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "content-type"}),
        call(client, "OPTIONS", "conversations", origin=origin, headers={"Access-Control-Request-Method": "GET"}),
    ]
    for response in responses:
        assert_error(response, 403, "origin_not_allowed")
        no_cors(response)
    assert count(app, EndUser) == 1 and count(app, Conversation) == conversations


@pytest.mark.parametrize("origin", [ORIGIN, "https://admin.example.com"])
def test_an_allowed_origin_is_echoed_exactly_with_vary(client, guarded, origin):
    data = set_user(client, {"id": "u-1"}, origin=origin)
    listed = call(client, "GET", "conversations", session=data.get_json()["session"], origin=origin)
    for response in (data, listed):
        assert response.status_code == 200
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert varies_on_origin(response)
        assert "Access-Control-Allow-Credentials" not in response.headers  # bearer tokens, never cookies
        assert "Set-Cookie" not in response.headers
    refused = call(client, "GET", "conversations", session="forged", origin=origin)
    assert_error(refused, 401, "session_invalid")
    assert refused.headers["Access-Control-Allow-Origin"] == origin  # the widget can read why


def test_preflight_of_an_allowed_origin(client, guarded):
    response = call(client, "OPTIONS", "conversations/conv_x/messages", origin=ORIGIN, headers={
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type, x-signet-visitor"})
    assert response.status_code in (200, 204)
    assert response.headers["Access-Control-Allow-Origin"] == ORIGIN
    assert varies_on_origin(response)
    assert "POST" in response.headers["Access-Control-Allow-Methods"]
    allowed = {h.strip().lower() for h in response.headers["Access-Control-Allow-Headers"].split(",")}
    assert {"authorization", "content-type", "x-signet-visitor"} <= allowed


def test_a_request_without_origin_gets_no_cors_headers(client, guarded):
    response = set_user(client, {"id": "u-1"})
    assert response.status_code == 200
    no_cors(response)


def test_signets_own_origin_is_always_allowed(app, client, guarded):
    app.config["SIGNET_PUBLIC_URL"] = "https://signet.example"
    for own in ("http://localhost", "https://signet.example"):
        response = set_user(client, {"id": "u-1"}, origin=own)
        assert response.status_code == 200, own
        assert response.headers["Access-Control-Allow-Origin"] == own


def test_without_a_list_every_web_origin_is_served(client, tenant):
    response = set_user(client, {"id": "u-1"}, origin="https://anything.example")
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "https://anything.example"


def test_seat_limit_reached(app, client, tenant):
    """Seats are the users the tenant vouches for (here: signed data); see test_unsigned_reach for
    unsigned users, who have their own limit."""
    def signed(user_id, **fields):
        return {"jwt": sign({"id": user_id, **fields}, tenant)}

    settings(app, tenant, seat_limit=2)
    identify(client, signed("u-1"))
    identify(client, signed("u-2"))
    visitor = identify(client, {"id": None})
    call(client, "POST", "conversations", {"body": "hi"}, session=visitor["session"])  # an anonymous row: no seat
    assert_error(set_user(client, signed("u-3")), 403, "seat_limit_reached")
    assert_error(set_user(client, signed("u-3"), headers={"X-Signet-Visitor": visitor["visitorId"]}),
                 403, "seat_limit_reached")
    assert count(app, EndUser, EndUser.external_id == "u-3") == 0
    assert count(app, EndUser, EndUser.anonymous.is_(True)) == 1
    assert identify(client, signed("u-1", name="Jane"))["user"]["name"] == "Jane"  # existing users served
    assert identify(client, {"id": None})["user"]["anonymous"] is True
    settings(app, tenant, seat_limit=3)
    identify(client, signed("u-3"))


def test_payload_too_large(app, client):
    big = {"id": "u-1", "name": "x" * (64 * 1024)}
    assert_error(set_user(client, big), 413, "payload_too_large")
    exactly = '{"id": "u-1", "attrs": {"pad": "' + "x" * 1000 + '"}}'
    padded = exactly + " " * (64 * 1024 - len(exactly))
    assert len(padded) == 64 * 1024
    assert client.post(client.tenant.url("set-user"), data=padded, content_type="application/json").status_code == 200
    over = padded + " "
    assert_error(client.post(client.tenant.url("set-user"), data=over, content_type="application/json"),
                 413, "payload_too_large")
    huge = b"{" + b" " * (2 * 1024 * 1024) + b"}"  # past the app-wide limit too: still the API's error
    assert_error(client.post(client.tenant.url("set-user"), data=huge, content_type="application/json"),
                 413, "payload_too_large")
    assert count(app, EndUser) == 1


@pytest.mark.parametrize("length", ["0" * 4300 + "2", "9" * 4301, "1" * 19])
def test_a_content_length_no_body_has_is_answered_as_before(client, length):
    """A server that passes such a header on (Werkzeug's own does) gets the contract's answer, as
    Werkzeug's reading of the length gives it, never a 500 from int()."""
    response = client.post(client.tenant.url("set-user"), data=b"{}", content_type="application/json",
                           environ_overrides={"CONTENT_LENGTH": length})
    assert response.status_code in (400, 413), response.data
    assert response.get_json()["error"]["code"] in ("invalid_json", "payload_too_large")
    unknown = client.post("/api/v1/widget/nosuch/set-user", data=b"{}", content_type="application/json",
                          environ_overrides={"CONTENT_LENGTH": length})
    assert_error(unknown, 404, "unknown_tenant")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/jsonp", None])
def test_unsupported_media_type(app, client, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.post(client.tenant.url("set-user"), data='{"id": "u-1"}', headers=headers)
    assert_error(response, 415, "unsupported_media_type")
    assert count(app, EndUser) == 0


@pytest.mark.parametrize("content_type", ["application/json;charset=utf-8", "application/json; charset=UTF-8",
                                          "Application/JSON"])
def test_json_with_parameters_is_accepted(client, content_type):
    response = client.post(client.tenant.url("set-user"), data='{"id": "u-1"}', headers={"Content-Type": content_type})
    assert response.status_code == 200, response.get_json()


@pytest.fixture
def limited(tmp_path, ed_key):
    """An app limited to 3 widget requests a minute per address, with one tenant."""
    (tmp_path / "limited").mkdir()
    app = make_app(tmp_path / "limited", SIGNET_RATELIMIT="3/minute")
    tenant = make_tenant(app, ed_key)
    settings(app, tenant, allowed_origins=[ORIGIN])
    client = app.test_client()
    client.tenant = tenant
    yield client
    with app.app_context():
        db.session.remove()
        db.engine.dispose()


def test_rate_limited(limited):
    for _ in range(3):
        assert set_user(limited, {"id": None}).status_code == 200
    response = set_user(limited, {"id": None})
    assert_error(response, 429, "rate_limited")
    assert 1 <= int(response.headers["Retry-After"]) <= 60
    assert_error(call(limited, "GET", "conversations"), 429, "rate_limited")


def test_checks_before_and_after_the_rate_limit(limited):
    """unknown_tenant and origin_not_allowed answer first; the limit comes before the body checks."""
    for _ in range(3):
        assert set_user(limited, {"id": None}, origin=ORIGIN).status_code == 200
    response = limited.post("/api/v1/widget/nope/set-user", json={"id": None}, headers={"Origin": "https://evil.example"})
    assert_error(response, 404, "unknown_tenant")
    assert_error(set_user(limited, {"id": None}, origin="https://evil.example"), 403, "origin_not_allowed")
    limited_response = set_user(limited, {"id": "x" * (70 * 1024)}, origin=ORIGIN)
    assert_error(limited_response, 429, "rate_limited")
    assert limited_response.headers["Access-Control-Allow-Origin"] == ORIGIN  # the browser can read the 429
    assert_error(limited.post(limited.tenant.url("set-user"), data="x", content_type="text/plain"), 429, "rate_limited")
