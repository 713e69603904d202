from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
    next = HiddenField()


class SignupForm(FlaskForm):
    workspace = StringField("Workspace name", validators=[DataRequired(), Length(max=120)])
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])
    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])


class EmptyForm(FlaskForm):
    """A form with only its CSRF token: logout, switch, delete buttons."""


class NewWorkspaceForm(FlaskForm):
    workspace = StringField("Workspace name", validators=[DataRequired(), Length(max=120)])


class ForgotForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired(), Length(max=254)])


class NewPasswordForm(FlaskForm):
    password = PasswordField("New password", validators=[DataRequired(), Length(max=1024)])


class ConfirmEmailForm(FlaskForm):
    """The sign-up confirmation: the mailed link AND the password chosen at sign-up."""

    password = PasswordField("Password", validators=[DataRequired(), Length(max=1024)])
