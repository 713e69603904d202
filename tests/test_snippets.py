"""Every snippet the product shows uses the contract's Promise stub (API.md §2), never the earlier one."""
from __future__ import annotations

import html
from pathlib import Path

import pytest

from .browser.conftest import OLD_STUB, STUB

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("path", ["docs/API.md", "docs/INTEGRATION.md", "demo/templates/demo.html"])
def test_docs_and_demo_show_the_promise_stub(path):
    text = (ROOT / path).read_text(encoding="utf-8")
    assert STUB in text
    assert OLD_STUB not in text and 'this._q.push(["setUser",u])' not in text


def test_the_install_page_shows_the_promise_stub(owner_client):
    page = html.unescape(owner_client.get("/settings/install").get_data(as_text=True))
    assert STUB + "\n<script async src=" in page
    assert f'data-tenant="{owner_client.tenant.public_id}"' in page
    assert 'this._q.push(["setUser",u])' not in page
