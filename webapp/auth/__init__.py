from flask import Blueprint

bp = Blueprint("auth", __name__)

from . import account_views, invitation_views, twofactor_views, views  # noqa: E402,F401
from . import sso_views  # noqa: E402,F401
