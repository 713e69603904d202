"""Jinja helpers shared by every template."""
from __future__ import annotations

from datetime import datetime, timezone

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


WHEN_FORMAT = "%Y-%m-%d %H:%M UTC"


def when(value: datetime | float | str | None) -> str:
    """The one way the product shows a date and time: ``2026-11-21 13:05 UTC``. Takes a datetime,
    seconds since the epoch (a token's exp) or an ISO 8601 string (the JSON the live boxes read)."""
    if value is None or value == "":
        return "—"
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    elif isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    return value.strftime(WHEN_FORMAT)


def init_app(app: Flask) -> None:
    app.jinja_env.globals["field_attrs"] = field_attrs
    app.jinja_env.filters["when"] = when
    from . import presenters  # here, not at the top: presenters reads services that import this module

    presenters.init_app(app)
