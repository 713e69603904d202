from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from .forms import EMAIL_SIGN_IN_CHOICES


class LoginLinksForm(FlaskForm):
    login_links_enabled = BooleanField("Accept login links")
    login_links_require_jti = BooleanField("Require a jti and an iat in every login link (one-time links)")
    login_links_max_age = IntegerField("Maximum age in seconds (exp − iat)",
                                       validators=[Optional(), NumberRange(min=1, max=2**31 - 1)])
    seat_limit = IntegerField("Seat limit", validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])
    unsigned_user_limit = IntegerField("Unsigned users' limit", validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])
    email_sign_in = SelectField("Email sign-in", choices=EMAIL_SIGN_IN_CHOICES)


class TestLinkForm(FlaskForm):
    user_id = StringField("User id", validators=[DataRequired("Enter the id of an existing user."), Length(max=255)])
