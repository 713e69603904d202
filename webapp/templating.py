"""Jinja helpers shared by every template."""
from __future__ import annotations

from datetime import datetime

from flask import Flask


def field_attrs(field, help_text=None, autocomplete=None) -> dict:
    """aria-describedby / aria-invalid / autocomplete for a form field, so errors are announced."""
    described = []
    if help_text:
        described.append(f"{field.id}-help")
    if field.errors:
        described.append(f"{field.id}-error")
    attrs: dict = {}
    if described:
        attrs["aria-describedby"] = " ".join(described)
    if field.errors:
        attrs["aria-invalid"] = "true"
    if autocomplete:
        attrs["autocomplete"] = autocomplete
    return attrs


def when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def init_app(app: Flask) -> None:
    app.jinja_env.globals["field_attrs"] = field_attrs
    app.jinja_env.filters["when"] = when
    app.jinja_env.globals["settings_pages"] = settings_pages


# Settings pages in sidebar order; later features register theirs with add_settings_page().
_SETTINGS_PAGES: list[tuple[str, str]] = [
    ("dashboard.settings_workspace", "Workspace"),
    ("dashboard.settings_team", "Team"),
]


def add_settings_page(endpoint: str, label: str) -> None:
    if (endpoint, label) not in _SETTINGS_PAGES:
        _SETTINGS_PAGES.append((endpoint, label))


def settings_pages() -> list[tuple[str, str]]:
    return list(_SETTINGS_PAGES)
