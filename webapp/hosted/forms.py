from flask_wtf import FlaskForm
from wtforms import EmailField
from wtforms.validators import DataRequired, Length


class EmailSignInForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired("Enter your email address."), Length(max=254)])


class ButtonForm(FlaskForm):
    """A button with only its CSRF token: sign in (from an email link), sign out."""
