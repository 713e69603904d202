"""Typed tables, one module per aggregate. Importing this registers every model."""
from .member import ROLES, Member, Membership
from .tenant import EMAIL_SIGN_IN_MODES, VERIFICATION_MODES, Tenant

__all__ = ["Member", "Membership", "ROLES", "Tenant", "VERIFICATION_MODES", "EMAIL_SIGN_IN_MODES"]
