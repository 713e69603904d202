from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import BooleanField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from .forms import VERIFICATION_CHOICES

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


class VerificationForm(FlaskForm):
    verification_mode = RadioField("Mode", choices=VERIFICATION_CHOICES)
    audience = StringField("Audience (aud)", validators=[DataRequired(), Length(max=255)])
    require_audience = BooleanField("Require every token to carry this audience")
    issuer = StringField("Pinned issuer (iss)", validators=[Length(max=255)])


class DebuggerForm(FlaskForm):
    token = TextAreaField("Token", validators=[DataRequired(), Length(max=20000)])
