from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from . import fields as setting

ALG_CHOICES = [
    ("", "Detect from the key"),
    ("EdDSA", "EdDSA (Ed25519)"),
    ("ES256", "ES256 (P-256)"),
    ("PS256", "PS256 (RSA-PSS, 2048 to 4096 bits)"),
    ("RS256", "RS256 (RSA, 2048 to 4096 bits)"),
]


class SecretForm(FlaskForm):
    label = StringField("Label (optional)", validators=[Length(max=120)])
    replace = BooleanField("Replace the current secrets (they stay valid for the grace window)")


class PublicKeyForm(FlaskForm):
    pem = TextAreaField("Public key (PEM)", validators=[Length(max=20000)])
    pem_file = FileField("…or a .pem file")
    alg = SelectField("Algorithm", choices=ALG_CHOICES, default="")
    label = StringField("Label (optional)", validators=[Length(max=120)])
    replace = BooleanField("Replace the current public keys (they stay valid for the grace window)")


class VerificationForm(setting.SettingsForm):
    verification_mode = setting.verification_mode("Mode")
    audience = setting.audience("Audience (aud)")
    require_audience = setting.require_audience()
    issuer = setting.issuer()
    legacy_user_hash = setting.legacy_user_hash()
    anonymous_visitors = setting.anonymous_visitors()
    anonymous_text = setting.anonymous_text()


class DebuggerForm(FlaskForm):
    token = TextAreaField("Token", validators=[DataRequired(), Length(max=20000)])
