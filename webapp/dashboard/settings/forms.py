from flask_wtf import FlaskForm
from wtforms import EmailField, SelectField
from wtforms.validators import DataRequired, Length

from . import fields as setting

ROLE_CHOICES = [("agent", "Agent"), ("admin", "Admin"), ("owner", "Owner")]


class WorkspaceForm(setting.SettingsForm):
    """Settings → Workspace: every setting on one page (the other settings pages edit parts of it)."""
    name = setting.name()
    verification_mode = setting.verification_mode("Identity verification")
    allowed_origins = setting.allowed_origins()
    seat_limit = setting.seat_limit()
    unsigned_user_limit = setting.unsigned_user_limit()
    audience = setting.audience("Token audience (aud)")
    require_audience = setting.require_audience()
    issuer = setting.issuer()
    login_links_enabled = setting.login_links_enabled("Enable login links")
    login_links_require_jti = setting.login_links_require_jti("Require a jti and iat in every login link (one-time links)")
    login_links_max_age = setting.login_links_max_age("Maximum login-link age in seconds (exp − iat)")
    email_sign_in = setting.email_sign_in("Email sign-in on the hosted page")


class InviteForm(FlaskForm):
    """Team page: an invitation mailed to the address (it grants nothing until accepted)."""
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    role = SelectField("Role", choices=ROLE_CHOICES, default="agent")


class RoleForm(FlaskForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
