"""An account whose address is not proven yet can do nothing but verify it: every other page
and POST sends it to the "check your email" page."""
from __future__ import annotations

from functools import wraps

from flask import redirect, request, url_for
from flask_login import current_user


def unverified_redirect():
    """A redirect for a signed-in member whose address is not proven, else None."""
    if current_user.is_authenticated and not current_user.is_verified:
        return redirect(url_for("auth.verify_pending"))
    return None


def verified_required(view):
    """Logged in (else the login page, coming back here) with a proven address."""

    @wraps(view)
    def wrapper(*args, **kwargs):
        if not current_user.is_authenticated:
            return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
        return unverified_redirect() or view(*args, **kwargs)

    return wrapper
