"""The Identity health page in Chromium (issue 14 item 4): the server-drawn charts render under the
page's CSP (their <style> carries the nonce: the bars are drawn in colour, not unstyled black), no
CSP violation or script error, and axe finds no serious or critical violation."""
from __future__ import annotations

import urllib.request
import json

import pytest
from axe_playwright_python.sync_playwright import Axe

from ..conftest import PASSWORD

pytestmark = pytest.mark.browser


def serious(results) -> list:
    return [v for v in results.response["violations"] if v["impact"] in ("serious", "critical")]


def _set_user(signet, tenant, body: dict) -> int:
    request = urllib.request.Request(f"{signet.url}/api/v1/widget/{tenant.public_id}/set-user",
                                     data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as answer:
            return answer.status
    except urllib.error.HTTPError as error:
        return error.code


def test_health_charts_render_and_pass_axe(signet, page):
    tenant = signet.tenant([])
    for i in range(3):
        assert _set_user(signet, tenant, {"jwt": tenant.token(f"h{i}")}) == 200
    assert _set_user(signet, tenant, {"id": "plain"}) == 200
    assert _set_user(signet, tenant, {"id": "x", "userid": "y"}) == 400
    page.goto(f"{signet.url}/login")
    page.get_by_label("Email").fill(tenant.owner)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.goto(f"{signet.url}/settings/health?window=24h")  # the served process counted in memory: shown at once
    charts = page.locator("figure.chart svg")
    assert charts.count() == 4
    first = page.locator("#chart-kinds svg")
    box = first.bounding_box()
    assert box and box["width"] > 200 and box["height"] > 80
    fill = page.evaluate("getComputedStyle(document.querySelector('#chart-kinds svg .rect')).fill")
    assert fill not in ("rgb(0, 0, 0)", "", "none"), fill  # pygal's CSS applied: the nonce let it through
    assert "3" in page.locator("#chart-kinds table").inner_text()
    assert serious(Axe().run(page)) == []
    assert page.problems == []
