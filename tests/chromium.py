"""Debian's Chromium through Playwright, launched the one way this machine allows; the `browser`
and `page` fixtures (a module imports them to use them) and `one_page` for a single-page test."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, sync_playwright

ARGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def watched_page(context: BrowserContext) -> Page:
    """A new tab whose console errors and uncaught page errors collect in `page.problems`."""
    tab = context.new_page()
    tab.problems = []
    tab.on("console", lambda m: tab.problems.append(f"console.{m.type}: {m.text}") if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.problems.append(f"pageerror: {e}"))
    return tab


@contextmanager
def one_page() -> Iterator[Page]:
    """Chromium with one fresh profile and one watched tab, closed afterwards."""
    with chromium() as launched:
        context = launched.new_context()
        try:
            yield watched_page(context)
        finally:
            context.close()


@pytest.fixture(scope="module")
def browser():
    """One Chromium for the module's tests."""
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    """A fresh browser profile; console errors and page errors are collected on page.problems."""
    context = browser.new_context()
    yield watched_page(context)
    context.close()
