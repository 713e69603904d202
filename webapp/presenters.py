"""What pages show, decided once in Python and handed to every template as a Jinja global.

Templates hold markup and words, never a rule: a badge's wording, a lifetime in minutes or a
sample's expiry come from here (and from the services' constants behind them), so a rule changed
in its service changes every page that shows it. tests/test_templates_hold_no_rules.py keeps the
old literals out of the templates.
"""
from __future__ import annotations

from flask import Flask
from markupsafe import Markup

from .services.end_users import activity, email_signin, login_links

# The lifetime suggested for a login link: the dashboard's test link lives this long, the samples'
# links expire after it, and the settings suggest it as the maximum age.
SUGGESTED_LINK_SECONDS = login_links.TEST_LINK_SECONDS
# A signed user token of the samples (setUser({jwt})) expires after this.
SAMPLE_TOKEN_SECONDS = 600

_SMALL = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def minutes_words(seconds: int) -> str:
    """A lifetime as the pages write it: "five minutes", "one minute", "15 minutes" (house style
    spells out numbers under ten)."""
    minutes = seconds // 60
    count = _SMALL[minutes] if minutes < len(_SMALL) else str(minutes)
    return f"{count} minute" if minutes == 1 else f"{count} minutes"


def verification_badge(subject) -> Markup:
    """The Verified / Not verified / Anonymous badge of a user (an EndUser or a row with its
    columns), or of a state string (activity.BADGES holds the wording)."""
    state = subject if isinstance(subject, str) else activity.verification_state(subject)
    shown = activity.badge(state)
    return Markup('<span class="badge {}">{}</span>').format(shown["tone"], shown["label"])


def sample_seconds(link: object) -> int:
    """How long a signing sample's token (or, with `link`, its login link) stays valid."""
    return SUGGESTED_LINK_SECONDS if link else SAMPLE_TOKEN_SECONDS


LIFETIMES = {
    "email_link": minutes_words(email_signin.LINK_SECONDS),  # an email sign-in link
    "test_link": minutes_words(login_links.TEST_LINK_SECONDS),  # the dashboard's test login link
    "suggested_max_age": SUGGESTED_LINK_SECONDS,
    "suggested_max_age_words": minutes_words(SUGGESTED_LINK_SECONDS),
}


def init_app(app: Flask) -> None:
    app.jinja_env.globals.update(
        verification_badge=verification_badge, sample_seconds=sample_seconds, lifetimes=LIFETIMES,
    )
