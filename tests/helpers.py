"""Small helpers for driving the dashboard like a browser does (the test client, or a Playwright page)."""
from __future__ import annotations

import re

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="csrf_token"')


def csrf_of(html: str) -> str:
    match = CSRF.search(html)
    assert match, "no CSRF field in the page"
    return match.group(1) or match.group(2)


def post_form(client, path: str, data: dict | None = None, page: str | None = None, **kwargs):
    """POST like a browser: fetch the page holding the form first, send its CSRF token."""
    html = client.get(page or path).get_data(as_text=True)
    return client.post(path, data={**(data or {}), "csrf_token": csrf_of(html)}, **kwargs)


def login(client, email: str, password: str):
    return post_form(client, "/login", {"email": email, "password": password})


def log_in(page, base: str, email: str, password: str):
    """Log in on `base`/login in a Playwright page, as a member would type it."""
    page.goto(base + "/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()
