"""Rules live once in Python (issue 15, step 5): templates show what presenters, model properties
and services hand them. The first test greps the templates so the old copies cannot come back; the
others pin the one place each rule now lives."""
import re
from datetime import timedelta
from pathlib import Path

import pytest
from markupsafe import Markup

from webapp import presenters
from webapp.dashboard.inbox.threads import STATUS_FILTERS, InboxQuery
from webapp.identity import fields, jose
from webapp.models import EndUser, Message, VerificationKeyRow
from webapp.models._types import utcnow
from webapp.services.end_users import activity, email_signin, login_links
from webapp.services.messaging import conversations
from webapp.widget_api.openapi import SET_USER_BODY, document

TEMPLATES = Path(__file__).resolve().parent.parent / "templates"

# (what the template must not hold, the rule's one place now)
FORBIDDEN = [
    (r"\.name or \(?\S*(email|external_id|'Anonymous)", "EndUser.display_name"),
    (r"\.email or \S*\.(external_)?id\b", "EndUser.display_name"),
    (r"'Anonymous visitor'", "EndUser.display_name"),
    (r">\s*(Not verified|Verified|Anonymous)\s*</span>", "presenters.verification_badge"),
    (r"'(Not verified|Verified)'", "activity.BADGES"),
    (r"'Support'|\"Support\"", "Message.staff_label"),
    (r"sk_…|secret_hint", "VerificationKeyRow.masked_secret"),
    (r"YOUR_SECRET_KID", "signing_sample()['has_secret']"),
    (r"in \('active', 'grace'\)", "VerificationKeyRow.revocable"),
    (r"\('open', 'Open'\)", "InboxQuery.status_choices"),
    (r"\b15 minutes\b|\bfive minutes\b", "presenters.LIFETIMES"),
    (r"\b300\b|\b600\b|'5m'|'10m'", "presenters.sample_seconds / LIFETIMES"),
]


def _templates():
    return sorted(TEMPLATES.rglob("*.html"))


def test_templates_hold_none_of_the_rules_moved_to_python():
    found = []
    for path in _templates():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if line.lstrip().startswith("{#"):
                continue  # a comment may name a rule
            for pattern, home in FORBIDDEN:
                if re.search(pattern, line):
                    found.append(f"{path.relative_to(TEMPLATES)}:{number}: {pattern!r} belongs in {home}")
    assert _templates(), "no templates found"
    assert found == []


def test_display_name_is_name_then_email_then_id_then_visitor():
    assert EndUser(name="Ada", email="a@x.io", external_id="u1").display_name == "Ada"
    assert EndUser(email="a@x.io", external_id="u1").display_name == "a@x.io"
    assert EndUser(external_id="u1").display_name == "u1"
    assert EndUser(anonymous=True, visitor_id="v").display_name == "Anonymous visitor"


def test_verification_badge_wording_and_markup():
    verified = EndUser(external_id="u1", verified=True, anonymous=False)
    unsigned = EndUser(external_id="u2", verified=False, anonymous=False)
    visitor = EndUser(anonymous=True, verified=False, visitor_id="v")
    assert presenters.verification_badge(verified) == Markup('<span class="badge ok">Verified</span>')
    assert presenters.verification_badge(unsigned) == Markup('<span class="badge warn">Not verified</span>')
    assert presenters.verification_badge(visitor) == Markup('<span class="badge neutral">Anonymous</span>')
    assert presenters.verification_badge("unverified") == presenters.verification_badge(unsigned)
    # The states how_verified() reports are exactly the states a badge exists for.
    assert {activity.how_verified(u)[0] for u in (verified, unsigned, visitor)} == set(activity.BADGES)
    assert activity.badge("verified") == {"tone": "ok", "label": "Verified"}


def test_staff_label_falls_back_to_support_in_pages_and_widget_json():
    named = Message(public_id="msg_1", author="staff", body="hi", staff_name="Ada Lovelace", created_at=utcnow())
    unnamed = Message(public_id="msg_2", author="staff", body="hi", staff_name=None, created_at=utcnow())
    assert named.staff_label == "Ada Lovelace" and unnamed.staff_label == "Support"
    assert conversations.message_json(unnamed)["staffName"] == "Support"
    assert conversations.message_json(named)["staffName"] == "Ada Lovelace"


def test_secret_mask_and_revocable_rule_on_the_key_row():
    now = utcnow()
    secret = VerificationKeyRow(kid="sec_1", kind="secret", alg="HS256", secret_hint="WXYZ")
    public = VerificationKeyRow(kid="key_1", kind="public_key", alg="EdDSA")
    assert secret.masked_secret == "sk_…WXYZ" and public.masked_secret is None
    assert secret.revocable(now)
    secret.grace_ends_at = now + timedelta(hours=1)
    assert secret.state(now) == "grace" and secret.revocable(now)
    secret.grace_ends_at = now - timedelta(seconds=1)
    assert secret.state(now) == "expired" and not secret.revocable(now)
    secret.revoked_at = now
    assert not secret.revocable(now)


def test_inbox_status_choices_are_the_filters_the_query_accepts():
    assert InboxQuery().status_choices == [("open", "Open"), ("closed", "Closed"), ("all", "All")]
    assert [value for value, _ in InboxQuery().status_choices] == list(STATUS_FILTERS)


@pytest.mark.parametrize("seconds, words", [(60, "one minute"), (300, "five minutes"), (900, "15 minutes"),
                                             (600, "10 minutes")])
def test_minutes_words(seconds, words):
    assert presenters.minutes_words(seconds) == words


def test_lifetimes_come_from_the_services_constants():
    assert presenters.LIFETIMES["email_link"] == presenters.minutes_words(email_signin.LINK_SECONDS) == "15 minutes"
    assert presenters.LIFETIMES["test_link"] == presenters.minutes_words(login_links.TEST_LINK_SECONDS) == "five minutes"
    assert presenters.LIFETIMES["suggested_max_age"] == login_links.TEST_LINK_SECONDS
    assert presenters.sample_seconds("https://x/m/t") == login_links.TEST_LINK_SECONDS
    assert presenters.sample_seconds(None) == presenters.SAMPLE_TOKEN_SECONDS == 600


def test_openapi_limits_are_the_checkers_constants():
    unsigned, signed, link = SET_USER_BODY["oneOf"]
    props = unsigned["properties"]
    assert props["email"]["maxLength"] == fields.MAX_EMAIL_CHARS
    assert props["name"]["maxLength"] == fields.MAX_NAME_CHARS
    assert props["avatarUrl"]["maxLength"] == fields.MAX_URL_CHARS
    assert props["attrs"]["maxProperties"] == fields.MAX_ATTRS
    assert props["organizations"]["items"]["properties"]["name"]["maxLength"] == fields.MAX_NAME_CHARS
    assert signed["properties"]["jwt"]["maxLength"] == link["properties"]["externalAuthCode"]["maxLength"] \
        == jose.MAX_TOKEN_BYTES
    start = document()["paths"]["/api/v1/widget/{tenant_id}/conversations"]["post"]
    body = start["requestBody"]["content"]["application/json"]["schema"]["properties"]["body"]
    assert body["maxLength"] == conversations.MAX_BODY
    source = (Path(__file__).resolve().parent.parent / "webapp/widget_api/openapi.py").read_text()
    for number in (fields.MAX_EMAIL_CHARS, fields.MAX_URL_CHARS, jose.MAX_TOKEN_BYTES, conversations.MAX_BODY):
        assert not re.search(rf'"max(Length|Properties)": {number}\b', source)
