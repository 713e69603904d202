from flask_wtf import FlaskForm
from wtforms import BooleanField, EmailField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

VERIFICATION_CHOICES = [
    ("optional", "Optional: accept unsigned and signed user data"),
    ("report", "Report: accept both, and log the unsigned calls that Required would refuse"),
    ("required", "Required: refuse unsigned data that names a user (anonymous visitors still work)"),
]
EMAIL_SIGN_IN_CHOICES = [
    ("off", "Off"),
    ("existing", "Existing users only"),
    ("create", "Existing users, and create new ones (takes a seat)"),
]
ROLE_CHOICES = [("agent", "Agent"), ("admin", "Admin"), ("owner", "Owner")]


class WorkspaceForm(FlaskForm):
    name = StringField("Workspace name", validators=[DataRequired(), Length(max=120)])
    verification_mode = RadioField("Identity verification", choices=VERIFICATION_CHOICES)
    allowed_origins = TextAreaField("Allowed origins", validators=[Length(max=20000)])
    seat_limit = IntegerField("Seat limit", validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])
    unsigned_user_limit = IntegerField("Unsigned users' limit", validators=[Optional(), NumberRange(min=0, max=2**31 - 1)])
    audience = StringField("Token audience (aud)", validators=[DataRequired(), Length(max=255)])
    require_audience = BooleanField("Require every token to carry this audience")
    issuer = StringField("Pinned issuer (iss)", validators=[Length(max=255)])
    login_links_enabled = BooleanField("Enable login links")
    login_links_require_jti = BooleanField("Require a jti and iat in every login link (one-time links)")
    login_links_max_age = IntegerField("Maximum login-link age in seconds (exp − iat)", validators=[Optional(), NumberRange(min=1, max=2**31 - 1)])
    email_sign_in = SelectField("Email sign-in on the hosted page", choices=EMAIL_SIGN_IN_CHOICES)


class InviteForm(FlaskForm):
    """Team page: an invitation mailed to the address (it grants nothing until accepted)."""
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="agent")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
