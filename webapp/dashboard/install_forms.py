from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import Length


class OriginsForm(FlaskForm):
    allowed_origins = TextAreaField("Allowed origins", validators=[Length(max=20000)])
