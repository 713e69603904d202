from flask_wtf import FlaskForm
from wtforms import StringField
from wtforms.validators import DataRequired, Length

from . import fields as setting


class LoginLinksForm(setting.SettingsForm):
    login_links_enabled = setting.login_links_enabled("Accept login links")
    login_links_require_jti = setting.login_links_require_jti(
        "Require a jti and an iat in every login link (one-time links)")
    login_links_max_age = setting.login_links_max_age("Maximum age in seconds (exp − iat)")
    seat_limit = setting.seat_limit()
    unsigned_user_limit = setting.unsigned_user_limit()
    email_sign_in = setting.email_sign_in("Email sign-in")


class TestLinkForm(FlaskForm):
    user_id = StringField("User id", validators=[DataRequired("Enter the id of an existing user."), Length(max=255)])
