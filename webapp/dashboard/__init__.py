"""The staff dashboard: one blueprint, its pages grouped by area (inbox/, users/, settings/)."""
from flask import Blueprint, g

bp = Blueprint("dashboard", __name__)

# Importing a page module registers its routes on bp.
from . import access, views  # noqa: E402,F401
from .inbox import views as inbox_views  # noqa: E402,F401
from .settings import identity, install, login_links, pages_for, team  # noqa: E402,F401
from .users import views as users_views  # noqa: E402,F401
from .account import ACCOUNT_PAGES  # noqa: E402
from .account import security as account_security  # noqa: E402,F401
from .settings import team_twofactor  # noqa: E402,F401
from .settings import health as settings_health  # noqa: E402,F401
from .settings import apikeys as settings_apikeys  # noqa: E402,F401
from .settings import providers as settings_providers  # noqa: E402,F401
from .settings import audit as settings_audit  # noqa: E402,F401
from .account import sessions as account_sessions  # noqa: E402,F401
from .settings import sso as settings_sso  # noqa: E402,F401
from .settings import webhooks as settings_webhooks  # noqa: E402,F401
from .account import notifications as account_notifications  # noqa: E402,F401


@bp.record_once
def _settings_sidebar(state) -> None:
    state.app.jinja_env.globals["settings_pages"] = lambda: pages_for(g.membership.role)
    state.app.jinja_env.globals["account_pages"] = lambda: list(ACCOUNT_PAGES)
