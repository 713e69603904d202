"""The hosted page and the email sign-in mail in the visitor's language (issue 16): every page in
each of the six languages by Accept-Language, `?locale=` over the browser's choice, and the mail
in the language of the page that asked for it."""
from __future__ import annotations

import hashlib
import re
import string
from datetime import datetime, timedelta, timezone
from email.header import decode_header, make_header

import pytest
from markupsafe import escape

from webapp import locales
from webapp.extensions import db
from webapp.infra import background
from webapp.models import EmailSignIn

from ..helpers import csrf_of
from .conftest import add_signed_user, configure

OTHERS = [lang for lang in locales.LANGUAGES if lang != "en"]
LANG = re.compile(r'<html lang="([^"]+)">')
TOKEN = "t" * 43


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name}


def test_every_catalog_has_exactly_englishs_keys_and_placeholders():
    english = locales.catalog("en")
    for lang in locales.LANGUAGES:
        strings = locales.catalog(lang)
        assert set(strings) == set(english), lang
        for key, value in english.items():
            if isinstance(value, list):
                assert len(strings[key]) == len(value) and all(strings[key]), (lang, key)
            else:
                assert fields(strings[key]) == fields(value), (lang, key)
                assert strings[key].strip(), (lang, key)
        assert locales.when(lang, 0.0).endswith("UTC")


# (the page, the catalog keys it shows with their values): what each page must say in each language.
SIGN_IN = {"page.sign_in": {}, "sign_in.intro": {"workspace": "Acme"}, "sign_in.button": {},
           "sign_in.from_app": {"workspace": "Acme"}, "sign_in.email": {}}


def pages(app, client, tenant) -> dict[str, tuple]:
    """name -> (a function making the response, the keys with their values)."""
    def sign_in():
        return client.get(tenant.page)

    def off():
        configure(app, tenant, email_sign_in="off")
        return client.get(tenant.page)

    def invalid_email():
        token = csrf_of(client.get(tenant.page).get_data(as_text=True))
        return client.post(f"{tenant.page}/email", data={"email": "not an address", "csrf_token": token})

    def check_inbox():
        token = csrf_of(client.get(tenant.page).get_data(as_text=True))
        response = client.post(f"{tenant.page}/email", data={"email": "nobody@example.com", "csrf_token": token})
        background.wait_idle()
        return response

    def confirm():
        return client.get(f"{tenant.page}/email/{TOKEN}")

    def messenger():
        assert client.get(tenant.link({"user": {"id": "u-1", "name": "Jane"}})).status_code == 303
        return client.get(tenant.page)

    def used():
        with app.app_context():
            db.session.execute(db.update(EmailSignIn).values(used_at=datetime.now(timezone.utc)))
            db.session.commit()
        return client.get(f"{tenant.page}/email/{TOKEN}")

    def expired_login_link():
        return client.get(tenant.link({"user": {"id": "u-1"}}, ttl=-3600))

    minutes = {"minutes": 15}
    return {
        "sign_in": (sign_in, SIGN_IN),
        "sign_in_off": (off, {"page.sign_in": {}, "sign_in.off": {"workspace": "Acme"}}),
        "invalid_email": (invalid_email, {**SIGN_IN, "sign_in.email_invalid": {}}),
        "check_inbox": (check_inbox, {"inbox.title": {}, "inbox.sent": minutes,
                                      "inbox.no_mail": {"url": tenant.page}}),
        "confirm": (confirm, {"page.sign_in": {}, "confirm.title": {"workspace": "Acme"},
                              "confirm.as": {"email": "jane@example.com"}, "confirm.button": {}}),
        "messenger": (messenger, {"page.messenger": {}, "messenger.signed_in_as": {"name": "Jane"},
                                  "messenger.sign_out": {}}),
        "link_used": (used, {"error.link_used.title": {}, "error.link_used.text": {}, "error.details": {},
                             "error.go_to": {"workspace": "Acme"}}),
        "link_invalid": (lambda: client.get(f"{tenant.page}/email/{'x' * 43}"),
                         {"error.link_invalid.title": {}, "error.link_invalid.text": {}}),
        "token_expired": (expired_login_link, {"error.token_expired.title": {}, "error.token_expired.text": {},
                                               "error.server_time": {}}),
        "form_expired": (lambda: client.post(f"{tenant.page}/sign-out"),
                         {"error.form_expired.title": {}, "error.form_expired.text": {}}),
        "not_found": (lambda: client.get("/m/t_nosuchtenant"),
                      {"error.not_found.title": {}, "error.not_found.text": {}}),
    }


@pytest.fixture
def jane_link(app, tenant):
    """Jane (proven email) and an unused sign-in link for her, whose token is TOKEN."""
    add_signed_user(app, tenant, "u-jane", email="jane@example.com", name="Jane")
    now = datetime.now(timezone.utc)
    with app.app_context():
        db.session.add(EmailSignIn(tenant_id=tenant.id, email="jane@example.com",
                                   token_hash=hashlib.sha256(TOKEN.encode()).hexdigest(), created_at=now,
                                   expires_at=now + timedelta(minutes=15), used_at=None, requested_ip=None))
        db.session.commit()
    return tenant


PAGE_NAMES = ["sign_in", "sign_in_off", "invalid_email", "check_inbox", "confirm", "messenger", "link_used",
              "link_invalid", "token_expired", "form_expired", "not_found"]


@pytest.mark.parametrize("lang", locales.LANGUAGES)
@pytest.mark.parametrize("name", PAGE_NAMES)
def test_each_hosted_page_speaks_the_browsers_language(app, jane_link, name, lang):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = {"en": "en-GB,en;q=0.9", "pt": "pt-BR,pt;q=0.9,en;q=0.5",
                                                   "de": "de-AT,de;q=0.9,en;q=0.5"}.get(lang, f"{lang},en;q=0.5")
    make, keys = pages(app, client, jane_link)[name]
    response = make()
    body = response.get_data(as_text=True)
    assert LANG.search(body).group(1) == lang
    # The developers' details (the code and the service's own message) stay as the API says them.
    shown = re.sub(r"<details>.*?</details>", "", body, flags=re.S)
    for key, values in keys.items():
        assert str(locales.html(lang, key, **values)) in body, (name, lang, key)
        english = str(locales.html("en", key, **values))
        if lang != "en" and english != str(locales.html(lang, key, **values)):
            assert english not in shown, (name, lang, key)  # no English leftover
    if name == "messenger":
        assert f'data-locale="{lang}"' in body  # the widget speaks the page's language
    if name == "confirm":
        with app.app_context():
            expires = db.session.scalar(db.select(EmailSignIn.expires_at))
        assert str(escape(locales.when(lang, expires))) in body
        if lang == "de":
            assert re.search(r"bis \d{1,2}\. \w+ \d{4}, \d\d:\d\d UTC\.", body)
    if name == "token_expired":
        assert re.search(r"<time>[^<]+UTC</time>", body) and "token_expired" in body


def test_english_pages_keep_their_texts_and_dates(app, jane_link):
    """No Accept-Language (or one Signet does not speak): English, as before the catalogs."""
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "nl-NL,nl;q=0.9"
    body = client.get(f"{jane_link.page}/email/{TOKEN}").get_data(as_text=True)
    assert '<html lang="en">' in body and "<title>Sign in · Acme</title>" in body
    assert "Signing in as <strong>jane@example.com</strong>." in body
    assert re.search(r"This link works once, until \d{4}-\d\d-\d\d \d\d:\d\d UTC\.", body)
    assert '<html lang="en">' in app.test_client().get(jane_link.page).get_data(as_text=True)


def test_an_explicit_locale_wins_and_follows_the_pages_forms_and_redirects(app, tenant):
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = "de"
    page = client.get(f"{tenant.page}?locale=ja").get_data(as_text=True)
    assert '<html lang="ja">' in page and f'action="{tenant.page}/email?locale=ja"' in page
    signed = client.get(tenant.link({"user": {"id": "u-1", "name": "Jane"}}) + "&locale=fr")
    assert signed.status_code == 303 and signed.headers["Location"] == f"{tenant.page}?locale=fr"
    messenger = client.get(signed.headers["Location"]).get_data(as_text=True)
    assert '<html lang="fr">' in messenger and 'data-locale="fr"' in messenger
    assert f'action="{tenant.page}/sign-out?locale=fr"' in messenger
    unknown = client.get(f"{tenant.page}?locale=xx").get_data(as_text=True)  # unknown: the browser's
    assert '<html lang="de">' in unknown and 'data-locale="de"' in unknown


def subject_of(message) -> str:
    return str(make_header(decode_header(message["Subject"])))


@pytest.mark.parametrize("lang, subject, phrase", [
    ("de", "Bei Acme anmelden", "Öffnen Sie diesen Link und klicken Sie auf „Anmelden“"),
    ("ja", "Acme にサインイン", "次のリンクを開いて「サインイン」を押してください"),
])
def test_the_sign_in_mail_is_in_the_language_of_the_page_that_asked(app, tenant, smtp, lang, subject, phrase):
    add_signed_user(app, tenant, "u-jane", email="jane@example.com", name="Jane")
    client = app.test_client()
    client.environ_base["HTTP_ACCEPT_LANGUAGE"] = f"{lang},en;q=0.5"
    token = csrf_of(client.get(tenant.page).get_data(as_text=True))
    answer = client.post(f"{tenant.page}/email", data={"email": "jane@example.com", "csrf_token": token})
    assert answer.status_code == 200 and f'<html lang="{lang}">' in answer.get_data(as_text=True)
    [message] = smtp.wait_for(1)
    body = message.get_payload(decode=True).decode("utf-8")
    assert subject_of(message) == subject and phrase in body and "15" in body
    assert "Sign in" not in body and "Someone" not in body
    [link] = re.findall(r"https?://\S+", body)  # the one link, and nothing else
    assert re.fullmatch(r"http://localhost/m/[^/]+/email/[A-Za-z0-9_-]{43}", link)
    assert "locale" not in link and message.get_content_charset() == "utf-8"


def test_the_mail_is_english_when_the_page_was(app, tenant, smtp):
    add_signed_user(app, tenant, "u-jane", email="jane@example.com", name="Jane")
    client = app.test_client()
    token = csrf_of(client.get(tenant.page).get_data(as_text=True))
    client.post(f"{tenant.page}/email", data={"email": "jane@example.com", "csrf_token": token})
    [message] = smtp.wait_for(1)
    assert subject_of(message) == "Sign in to Acme"
    assert message.get_payload(decode=True).decode().replace("\r\n", "\n").startswith(
        "Someone (hopefully you) asked to sign in to the Acme messenger with this address.\n\n"
        "Open this link and press \"Sign in\":\n\nhttp://localhost/m/")
