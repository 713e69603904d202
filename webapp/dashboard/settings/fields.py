"""The tenant settings' form fields, each defined once, and the one way a settings page saves.

A page's form picks the settings it edits from here (a page may word a label its own way, the
rule and choices stay the field's); `save_settings` hands the form's values to
`tenants.update_settings` and puts a refusal beside the field it names. An emptied number or
text field clears its setting (tenants.CLEAR).
"""
from __future__ import annotations

from collections.abc import Iterable

from flask import flash, redirect, request, url_for
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, NumberRange, Optional

from ...services.workspace import tenants
from ...services.errors import Refused
from ..access import current_workspace

MAX_INT = 2**31 - 1

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


class OriginsField(TextAreaField):
    """The allowed origins: shown one per line, saved as the list of its lines."""

    def process_data(self, value):
        self.data = "\n".join(value) if isinstance(value, (list, tuple)) else value

    def setting(self) -> list[str]:
        return (self.data or "").splitlines()


def name(label: str = "Workspace name"):
    return StringField(label, validators=[DataRequired(), Length(max=120)])


def verification_mode(label: str):
    return RadioField(label, choices=VERIFICATION_CHOICES)


def allowed_origins(label: str = "Allowed origins"):
    return OriginsField(label, validators=[Length(max=20000)])


def seat_limit(label: str = "Seat limit"):
    return IntegerField(label, validators=[Optional(), NumberRange(min=0, max=MAX_INT)])


def unsigned_user_limit(label: str = "Unsigned users' limit"):
    return IntegerField(label, validators=[Optional(), NumberRange(min=0, max=MAX_INT)])


def audience(label: str):
    return StringField(label, validators=[DataRequired(), Length(max=255)])


def require_audience(label: str = "Require every token to carry this audience"):
    return BooleanField(label)


def issuer(label: str = "Pinned issuer (iss)"):
    return StringField(label, validators=[Length(max=255)])


def login_links_enabled(label: str):
    return BooleanField(label)


def login_links_require_jti(label: str):
    return BooleanField(label)


def login_links_max_age(label: str):
    return IntegerField(label, validators=[Optional(), NumberRange(min=1, max=MAX_INT)])


def email_sign_in(label: str):
    return SelectField(label, choices=EMAIL_SIGN_IN_CHOICES)


def legacy_user_hash(label: str = "Accept legacy user hashes (userHash) from Intercom, Chatwoot, Crisp, Front or Help Scout"):
    return BooleanField(label)


def anonymous_visitors(label: str = "Allow anonymous visitors (people who are not signed in) to chat"):
    return BooleanField(label)


def anonymous_text(label: str = "Text shown to visitors who are not signed in, instead of a chat"):
    return TextAreaField(label, validators=[Length(max=tenants.ANONYMOUS_TEXT_MAX)])


class SettingsForm(FlaskForm):
    """A settings page's form: every field but the CSRF token is a setting of the same name."""

    def setting_names(self) -> list[str]:
        return [key for key in self._fields if key != "csrf_token"]


def _value(field):
    """What tenants.Settings takes from a field: an emptied number or text is CLEAR."""
    if isinstance(field, OriginsField):
        return field.setting()
    return tenants.CLEAR if field.data is None or field.data == "" else field.data


def save_settings(form: SettingsForm, fields: Iterable[str] | None = None) -> bool:
    """Save `fields` (default: all of the form's settings) to the current workspace, together.

    A refusal changes nothing and goes to the field it names (the first field when it names
    none of this form's); returns whether the settings were saved."""
    names = list(fields if fields is not None else form.setting_names())
    changes = tenants.Settings(**{key: _value(form[key]) for key in names})
    try:
        tenants.update_settings(current_workspace(), changes)
    except Refused as error:
        form._fields.get(error.field or "", form[names[0]]).errors.append(error.message)
        return False
    return True


def edit_settings(form: SettingsForm, saved: str, render):
    """The flow of every settings form: a valid POST saves, flashes `saved` and comes back to the
    page (GET); otherwise `render(form)` shows it, with status 400 when a field has an error."""
    if form.validate_on_submit() and save_settings(form):
        flash(saved, "success")
        return redirect(url_for(request.endpoint))
    return render(form), (400 if form.errors else 200)
