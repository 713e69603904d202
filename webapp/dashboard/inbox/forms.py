"""The inbox's reply box. Close, reopen and other buttons use auth.forms.EmptyForm (CSRF only)."""
from flask_wtf import FlaskForm
from wtforms import TextAreaField
from wtforms.validators import DataRequired, Length

from ...services.messaging.conversations import MAX_BODY


class ReplyForm(FlaskForm):
    body = TextAreaField("Reply", validators=[
        DataRequired(message="Write a reply before sending."),
        Length(max=MAX_BODY, message=f"A reply can be at most {MAX_BODY:,} characters."),
    ])
