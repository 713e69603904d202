"""The hosted page (API.md §5): /m/<tenant_id>, a full-page messenger with login links and email sign-in."""
from flask import Blueprint, Flask

from ..extensions import csrf

bp = Blueprint("hosted", __name__, url_prefix="/m")
# Every form here is a FlaskForm that checks its own CSRF token (validate_on_submit). The global
# check is skipped only because its https "strict referrer" rule cannot pass: these pages send
# Referrer-Policy: no-referrer (the contract), so browsers post them with no Referer at all.
csrf.exempt(bp)

from . import views  # noqa: E402,F401


def init_app(app: Flask) -> None:
    from .logsafe import LogSafeUrls, restore_token

    app.register_blueprint(bp)
    app.wsgi_app = LogSafeUrls(app.wsgi_app)  # outermost: secrets leave the URL before anything reads it
    app.url_value_preprocessor(restore_token)  # views get the real one-time token back
