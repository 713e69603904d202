from flask_wtf import FlaskForm
from wtforms import HiddenField, TextAreaField
from wtforms.validators import DataRequired, Length


class OriginsForm(FlaskForm):
    allowed_origins = TextAreaField("Allowed origins", validators=[Length(max=20000)])


class AllowOriginForm(FlaskForm):
    """"Allow this origin" next to a refusal: the origin, and which page to come back to."""

    origin = HiddenField(validators=[DataRequired(), Length(max=255)])
    back = HiddenField()
