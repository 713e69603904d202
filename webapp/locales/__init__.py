"""What the end user reads outside the widget, in their language: the hosted page and the email
sign-in mail (issue 16). One catalog per language, `webapp/locales/<lang>.json`, with exactly
English's keys and placeholders (tests/hosted/test_locales.py checks it). The widget has its own
strings (static/widget/locales/), chosen the same way: an explicit language, else the browser's,
else English.

Catalog texts are ours, so `html()` treats them as markup (`<strong>`, a link) and escapes every
value put into them; `text()` is for plain text (the mail).
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from functools import cache
from pathlib import Path

from markupsafe import Markup

LANGUAGES = ("en", "de", "fr", "es", "pt", "ja")
DEFAULT = "en"
_HERE = Path(__file__).resolve().parent


@cache
def catalog(lang: str) -> dict:
    """The strings of `lang` (one of LANGUAGES), read once per process."""
    return json.loads((_HERE / f"{lang}.json").read_text(encoding="utf-8"))


def known(lang: object) -> str | None:
    """`lang` as one of LANGUAGES when it names one ("de", "de-AT", "PT_br"), else None."""
    if not isinstance(lang, str):
        return None
    base = lang.strip().replace("_", "-").split("-")[0].lower()
    return base if base in LANGUAGES else None


def choose(explicit: object, accept_languages) -> str:
    """The language for a request: an explicit one (a `locale` parameter) when it is known, else
    the best of the browser's Accept-Language (werkzeug's `request.accept_languages`), else
    English."""
    return known(explicit) or accept_languages.best_match(LANGUAGES, default=DEFAULT)


def text(lang: str, key: str, **values) -> str:
    """A plain-text string of `lang` with `values` put in."""
    return catalog(lang)[key].format(**values)


def html(lang: str, key: str, **values) -> Markup:
    """A string of `lang` as markup, every value escaped."""
    return Markup(catalog(lang)[key]).format(**values)


def when(lang: str, value: datetime | float) -> str:
    """A date and time (UTC) as `lang` writes it: ``2026-11-21 13:05 UTC`` in English (the
    product's one format, templating.when), ``21. November 2026, 13:05 UTC`` in German."""
    if isinstance(value, (int, float)):
        value = datetime.fromtimestamp(value, timezone.utc)
    elif value.tzinfo is not None:
        value = value.astimezone(timezone.utc)
    strings = catalog(lang)
    return strings["date.when"].format(year=value.year, month=strings["date.months"][value.month - 1],
                                       day=value.day, time=value.strftime("%H:%M"))
