"""Debian's Chromium through Playwright, launched the one way this machine allows."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

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
