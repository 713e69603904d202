"""The Install page in a 1280 px window: no sideways scrolling, no heading said twice."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from webapp.extensions import db
from webapp.services.keys import keyring
from webapp.services.workspace import tenants

from .test_identity_pages import log_in

pytestmark = pytest.mark.browser


def test_install_page_fits_1280_px_and_repeats_no_heading(signet, browser):
    tenant = signet.tenant(["https://app.example.com"])
    pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    with signet.app.app_context():  # both sets of samples: the secret's and the RS256 key's
        keyring.add_public_key(tenants.get_tenant(tenant.public_id), pem, "RS256")
        db.session.remove()
    context = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        page = context.new_page()
        log_in(page, signet, tenant.owner)
        page.goto(f"{signet.url}/settings/install")
        assert page.locator("#sample-rs256-jose").count() == 1
        width = page.evaluate("document.scrollingElement.scrollWidth")
        assert width <= 1280, width
        headings = page.evaluate(
            "Array.from(document.querySelectorAll('h1,h2,h3,h4')).map(h => h.textContent.trim().replace(/\\s+/g, ' '))")
        assert len(headings) == len(set(headings)), sorted(h for h in headings if headings.count(h) > 1)
        assert page.locator("h1").count() == 1
    finally:
        context.close()
