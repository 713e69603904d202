"""The dashboard leads a new customer: Install after sign-up and from the empty inbox, one date-time
format everywhere, and "how verified" right for email sign-in and for a key revoked since."""
from __future__ import annotations

import re
from datetime import datetime, timezone
from pathlib import Path

from sqlalchemy import update

from webapp.extensions import db
from webapp.models import EndUser
from webapp.services.keys import keyring
from webapp.services.workspace import tenants
from webapp.templating import when

from ..test_staff_accounts import confirm, signup
from .conftest import text_of
from .test_panel import panel_of, state_of

ROOT = Path(__file__).resolve().parents[2]


def test_after_sign_up_the_confirmed_owner_lands_on_install(app, smtp):
    client = app.test_client()
    assert signup(client, "founder@example.com").status_code == 200
    confirmed = confirm(client, smtp.link("founder@example.com", "/account/verify/"))
    assert confirmed.status_code == 302 and confirmed.headers["Location"] == "/settings/install"
    page = client.get("/settings/install").get_data(as_text=True)
    assert "next, install the messenger in your app" in page and "Install Signet in your app" in page


def test_the_empty_inbox_and_users_pages_lead_to_install(staff):
    for path in ("/inbox", "/users"):
        page = text_of(staff.get(path))
        assert '<a class="button" href="/settings/install">Install Signet in your app</a>' in page, path
        assert "Set up your workspace" not in page


def test_one_date_time_format_everywhere():
    moment = datetime(2026, 11, 21, 13, 5, 42, tzinfo=timezone.utc)
    assert when(moment) == "2026-11-21 13:05 UTC"
    assert when(moment.timestamp()) == "2026-11-21 13:05 UTC"  # a token's exp
    assert when("2026-11-21T13:05:42.123Z") == "2026-11-21 13:05 UTC"  # the live boxes' JSON
    assert when(None) == "—"
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert "strftime" not in text, path
        # A time shown to a person goes through |when; only datetime="…" attributes carry ISO text.
        for shown in re.findall(r"<time[^>]*>(.*?)</time>", text):
            assert "|when" in shown or shown.startswith("{{ server_time"), (path, shown)


def test_install_live_box_and_keys_page_use_that_format(app, staff, ws):
    ws.signed_user({"id": "user-1", "name": "Jane"})
    page = staff.get("/settings/install").get_data(as_text=True)
    assert re.search(r"via token, EdDSA, key \S+, <time datetime=\"[^\"]+\">\d{4}-\d\d-\d\d \d\d:\d\d UTC</time>", page)
    assert staff.get("/settings/install/last.json").get_json()["user"]["when"].endswith(" UTC")
    with app.app_context():
        keyring.create_secret(tenants.get_tenant(ws.public_id), replace=True)
    keys = staff.get("/settings/keys").get_data(as_text=True)
    assert re.search(r"Valid until \d{4}-\d\d-\d\d \d\d:\d\d UTC \(grace\)", keys)


def test_how_verified_by_email_sign_in_even_for_rows_without_verified_via(app, staff, ws):
    data = ws.set_user({"id": "user-mail", "email": "mail@example.com"})
    assert data["user"]["verified"] is False
    with app.app_context():  # a row email sign-in made before verified_via was kept
        db.session.execute(update(EndUser).where(EndUser.external_id == "user-mail").values(
            verified=True, verified_via=None, created_via="email"))
        db.session.commit()
        row_id = db.session.scalar(db.select(EndUser.id).where(EndUser.external_id == "user-mail"))
    panel = panel_of(text_of(staff.get(f"/users/{row_id}")))
    assert state_of(panel) == '<span class="badge ok">Verified</span> <span class="muted">(email sign-in)</span>'


def test_how_verified_says_when_the_key_was_revoked_since(app, staff, ws):
    ws.signed_user({"id": "user-key"})
    with app.app_context():
        keyring.revoke(tenants.get_tenant(ws.public_id), ws.ed_kid)
        row_id = db.session.scalar(db.select(EndUser.id).where(EndUser.external_id == "user-key"))
    panel = panel_of(text_of(staff.get(f"/users/{row_id}")))
    assert state_of(panel) == (f'<span class="badge ok">Verified</span> '
                               f'<span class="muted">(token, EdDSA, key {ws.ed_kid}, key revoked since)</span>')
    install = staff.get("/settings/install/last.json").get_json()
    assert install["user"]["how"] == f"token, EdDSA, key {ws.ed_kid}, key revoked since"
