"""The hosted page's language (issue 16): `?locale=<lang>` when it names one of
webapp.locales.LANGUAGES, else the browser's Accept-Language, else English. An explicit choice
rides on the page's own links, forms and redirects, so it lasts through a sign-in; the messenger
page hands the same language to the widget (`data-locale`)."""
from __future__ import annotations

from flask import g, request, url_for

from .. import locales

PARAM = "locale"


def explicit() -> str | None:
    """The language the URL asks for, or None."""
    return locales.known(request.args.get(PARAM))


def lang() -> str:
    """This request's language (decided once per request)."""
    if "hosted_lang" not in g:
        g.hosted_lang = locales.choose(explicit(), request.accept_languages)
    return g.hosted_lang


def url(endpoint: str, **values) -> str:
    """url_for, keeping an explicit `?locale=` of this request."""
    chosen = explicit()
    if chosen is not None:
        values[PARAM] = chosen
    return url_for(endpoint, **values)


def t(key: str, **values):
    """A catalog string of this request's language, as markup (values escaped)."""
    return locales.html(lang(), key, **values)


def text(key: str, **values) -> str:
    return locales.text(lang(), key, **values)


def when(value) -> str:
    return locales.when(lang(), value)


def template_values() -> dict:
    """What every hosted template reads (a blueprint context processor)."""
    return {"lang": lang(), "t": t, "hosted_url": url, "local_when": when}
