"""Your account (every member, any role): pages about the signed-in member themselves, not the
workspace: two-factor and passkeys, sessions, notifications. One module per page."""

# The sidebar, in order: every account page, named once (templates/dashboard/account/_layout.html).
# A page module adds itself here and is imported in webapp/dashboard/__init__.py.
ACCOUNT_PAGES: list[tuple[str, str]] = []
