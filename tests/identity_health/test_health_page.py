"""Key usage and the Identity health page (issue 14 items 2 and 4): the numbers shown are the
traffic sent, once the counters are flushed; the returning path still writes nothing."""
from __future__ import annotations

import re
from datetime import datetime, timezone

from sqlalchemy import event, func, select

from webapp.extensions import db
from webapp.models import UnsignedIdSample, UsageCount

from ..conftest import PASSWORD
from ..helpers import csrf_of, login
from .conftest import flush, set_mode


def owner(app, shop):
    client = app.test_client()
    assert login(client, shop.owner, PASSWORD).status_code == 302
    return client


def post(shop, body):
    return shop.api_client().post(shop.url("set-user"), json=body)


def send_traffic(shop) -> None:
    """3 by the secret, 2 by the Ed25519 key, 4 unsigned (3 ids), 2 anonymous, 1 login link,
    and refusals: 2 token_bad_signature, 1 token_expired, 1 unknown_field."""
    for i in range(3):
        assert post(shop, {"jwt": shop.sign({"id": f"s{i}"})}).status_code == 200
    for i in range(2):
        assert post(shop, {"jwt": shop.sign({"id": f"e{i}"}, "EdDSA")}).status_code == 200
    for user in ("u1", "u2", "u3", "u1"):
        assert post(shop, {"id": user}).status_code == 200
    for _ in range(2):
        assert post(shop, {"id": None}).status_code == 200
    assert post(shop, {"externalAuthCode": shop.sign({"user": {"id": "l1"}})}).status_code == 200
    for _ in range(2):
        assert post(shop, {"jwt": shop.sign({"id": "x"}, secret="another-secret-of-at-least-32-bytes!!")}).status_code == 401
    assert post(shop, {"jwt": shop.sign({"id": "x", "exp": 1000})}).status_code == 401
    assert post(shop, {"id": "x", "userid": "y"}).status_code == 400


def cell(html: str, table_id: str, row_label: str) -> list[str]:
    table = html[html.index(f'id="{table_id}"'):]
    table = table[:table.index("</table>")]
    match = re.search(rf"<th scope=\"row\">{re.escape(row_label)}</th>(.*?)</tr>", table, re.S)
    assert match, (row_label, table)
    return re.findall(r"<td>(.*?)</td>", match.group(1))


def test_health_page_numbers_equal_the_traffic_sent(app, shop):
    set_mode(app, shop, login_links_enabled=True)
    send_traffic(shop)
    flush(app)
    with app.app_context():  # the counts are in the database now, not only in memory
        assert db.session.scalar(select(func.sum(UsageCount.count)).where(
            UsageCount.tenant_id == shop.id, UsageCount.bucket == "h", UsageCount.name == "kind:unsigned")) == 4
        assert db.session.scalar(select(func.count()).select_from(UnsignedIdSample)) == 3
    client = owner(app, shop)
    for window in ("24h", "7d", "30d"):
        response = client.get(f"/settings/health?window={window}")
        assert response.status_code == 200
        html = response.get_data(as_text=True)
        assert cell(html, "chart-kinds", "Verified by your key or secret") == ["5"]
        assert cell(html, "chart-kinds", "Unsigned data") == ["4"]
        assert cell(html, "chart-kinds", "Anonymous visitor") == ["2"]
        assert cell(html, "chart-kinds", "Login link") == ["1"]
        assert cell(html, "chart-refusals", "token_bad_signature") == ["2"]
        assert cell(html, "chart-refusals", "token_expired") == ["1"]
        assert cell(html, "chart-refusals", "unknown_field") == ["1"]
        assert cell(html, "chart-keys", shop.secret_kid) == ["4"]  # 3 tokens and the login link
        assert cell(html, "chart-keys", shop.ed_kid) == ["2"]
        assert "50%</strong> of 12 identifications" in html  # 6 verified (5 by key, 1 link) of 12
        assert "<script" not in html.split("<main", 1)[-1].split("</main>")[0]
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
        assert html.count(f'<style nonce="{nonce}"') == 4  # one per chart, and no inline style= in any chart
        assert not re.search(r"<svg[^>]*>.*style=\"", html, re.S)
    rollout = client.get("/settings/identity").get_data(as_text=True)
    assert "60%</strong> of identifications with an id were signed" in rollout  # 6 signed, 4 unsigned
    for user in ("u1", "u2", "u3"):
        assert f"<code>{user}</code>" in rollout


def test_agents_cannot_see_the_health_page(app, shop, factory):
    agent = factory.member(shop, "agent")
    client = app.test_client()
    login(client, agent, PASSWORD)
    assert client.get("/settings/health").status_code == 403
    assert owner(app, shop).get("/settings/health?window=1y").status_code == 400


def test_keys_page_shows_last_used_and_24h_count_and_revoke_asks_first(app, shop):
    for i in range(3):
        assert post(shop, {"jwt": shop.sign({"id": f"k{i}"})}).status_code == 200
    flush(app)
    client = owner(app, shop)
    html = client.get("/settings/keys").get_data(as_text=True)
    row = html[html.index(f"<code>{shop.secret_kid}</code>"):]
    row = row[:row.index("</tr>")]
    assert "just now" in row or "minute ago" in row
    assert '<td class="served">3</td>' in row
    ed_row = html[html.index(f"<code>{shop.ed_kid}</code>"):]
    assert '<td class="last-used">never</td>' in ed_row[:ed_row.index("</tr>")]
    token = csrf_of(html)
    asked = client.post(f"/settings/keys/{shop.secret_kid}/revoke", data={"csrf_token": token})
    assert asked.status_code == 200
    assert f"{shop.secret_kid} served 3 verifications in the last 24 hours" in asked.get_data(as_text=True)
    assert post(shop, {"jwt": shop.sign({"id": "k9"})}).status_code == 200  # not revoked yet
    done = client.post(f"/settings/keys/{shop.secret_kid}/revoke", data={"csrf_token": token, "confirmed": shop.secret_kid})
    assert done.status_code == 302
    assert post(shop, {"jwt": shop.sign({"id": "k10"})}).status_code == 401
    # A key unused in 24 hours is revoked at once, as before.
    assert client.post(f"/settings/keys/{shop.ed_kid}/revoke", data={"csrf_token": token}).status_code == 302


def test_counting_adds_no_statement_to_the_returning_verified_path(app, shop):
    """A returning verified user's set-user: no write and no other statement (on SQLite, with
    nothing committed since, not even the read of the tenant and the user: the kept answer's
    PRAGMA data_version check); the counters it moved are written later, by a flush."""
    client = shop.api_client()
    body = {"jwt": shop.sign({"id": "r1", "name": "R"})}
    assert client.post(shop.url("set-user"), json=body).status_code == 200
    assert client.post(shop.url("set-user"), json=body).status_code == 200  # warm
    statements: list[str] = []
    with app.app_context():
        db.engine.dispose()
        event.listen(db.engine, "connect", lambda connection, _: connection.set_trace_callback(statements.append))
    assert client.post(shop.url("set-user"), json=body).status_code == 200  # reconnects
    statements.clear()
    for _ in range(5):
        assert client.post(shop.url("set-user"), json=body).status_code == 200
    assert not [s for s in statements if s.split()[0].upper() in ("INSERT", "UPDATE", "DELETE", "BEGIN")], statements
    assert statements == ["PRAGMA data_version"] * 5, statements  # as before counting
    flush(app)
    with app.app_context():
        assert db.session.scalar(select(func.sum(UsageCount.count)).where(
            UsageCount.tenant_id == shop.id, UsageCount.bucket == "d", UsageCount.name == "kind:key")) == 8


def test_flush_adds_to_existing_rows(app, shop):
    assert post(shop, {"id": "a"}).status_code == 200
    flush(app)
    assert post(shop, {"id": "a"}).status_code == 200
    flush(app)
    with app.app_context():
        rows = db.session.execute(select(UsageCount.count).where(UsageCount.name == "kind:unsigned").order_by(UsageCount.bucket)).scalars().all()
        seen = db.session.scalar(select(UnsignedIdSample.seen).where(UnsignedIdSample.external_id == "a"))
    assert rows == [2, 2] and seen == 2  # the day's row and the hour's row


def test_seven_day_totals_are_the_stored_rows_plus_the_pending_counts_once(app, shop):
    """Counted across several days, flushed in two rounds, and some still in memory: the 7-day
    figures shown are the daily rows' sum plus the unwritten counts, each counted once."""
    import time

    from webapp.services.keys import usage

    now = time.time()
    with app.test_request_context():
        for day in range(9):  # days 0-6 are in the window, 7 and 8 are not
            usage.count_identification(shop.id, "unsigned", now=now - day * 86400)
            usage.count_identification(shop.id, "key", now=now - day * 86400)
        usage.flush()
        for day in range(9):
            usage.count_identification(shop.id, "unsigned", now=now - day * 86400)
        usage.flush()  # the same day rows again: upserted, added to
        for _ in range(3):  # still pending in this process
            usage.count_identification(shop.id, "unsigned", now=now)
    with app.app_context():
        since = now - 6 * 86400 - now % 86400
        stored = dict(db.session.execute(select(UsageCount.name, func.sum(UsageCount.count)).where(
            UsageCount.tenant_id == shop.id, UsageCount.bucket == "d",
            UsageCount.hour >= datetime.fromtimestamp(since, timezone.utc)).group_by(UsageCount.name)).all())
    assert stored == {"kind:unsigned": 14, "kind:key": 7}
    html = owner(app, shop).get("/settings/health?window=7d").get_data(as_text=True)
    assert cell(html, "chart-kinds", "Unsigned data") == ["17"]  # 14 stored + 3 pending
    assert cell(html, "chart-kinds", "Verified by your key or secret") == ["7"]
    assert "of 24 identifications were verified (7)" in html
    days = [cell(html, "chart-share", label) for label in re.findall(
        r'<th scope="row">(\d{4}-\d\d-\d\d)</th>', html[html.index('id="chart-share"'):])]
    assert sum(int(row[1]) for row in days) == 24 and len(days) == 7
