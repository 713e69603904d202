from flask_wtf import FlaskForm
from wtforms import HiddenField
from wtforms.validators import DataRequired, Length

from . import fields as setting


class OriginsForm(setting.SettingsForm):
    allowed_origins = setting.allowed_origins()


class AllowOriginForm(FlaskForm):
    """"Allow this origin" next to a refusal: the origin, and which page to come back to."""

    origin = HiddenField(validators=[DataRequired(), Length(max=255)])
    back = HiddenField()
