"""Settings (owners and admins only: access.py refuses agents): one module per page or group of
pages, each saving its tenant settings through fields.py's edit_settings."""

# The sidebar, in order: every settings page, named once (templates/dashboard/settings/_layout.html).
PAGES: tuple[tuple[str, str], ...] = (
    ("dashboard.settings_workspace", "Workspace"),
    ("dashboard.settings_team", "Team"),
    ("dashboard.settings_identity", "Identity verification"),
    ("dashboard.settings_keys", "Secrets and keys"),
    ("dashboard.settings_providers", "Identity providers"),
    ("dashboard.settings_debugger", "Token debugger"),
    ("dashboard.settings_health", "Identity health"),
    ("dashboard.settings_install", "Install"),
    ("dashboard.settings_login_links", "Login links"),
    ("dashboard.settings_api_keys", "API keys"),
    ("dashboard.settings_audit", "Audit log"),
    ("dashboard.settings_sso", "Single sign-on"),
    ("dashboard.settings_webhooks", "Webhooks"),
)

# Pages only owners may open (the page itself refuses anyone else): left out of an admin's sidebar.
OWNER_ONLY: frozenset[str] = frozenset({"dashboard.settings_sso"})


def pages_for(role: str) -> list[tuple[str, str]]:
    """The sidebar a member with this role sees: every page they may open, in order."""
    return [page for page in PAGES if role == "owner" or page[0] not in OWNER_ONLY]
