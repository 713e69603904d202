"""Typed tables, one module per aggregate. Importing this registers every model."""
from .keys import Rejection, UsedJti, VerificationKeyRow
from .member import ROLES, Member, Membership
from .tenant import EMAIL_SIGN_IN_MODES, VERIFICATION_MODES, Tenant

__all__ = [
    "EMAIL_SIGN_IN_MODES", "Member", "Membership", 
    "ROLES", "Rejection", "Tenant", "UsedJti", "VERIFICATION_MODES",
    "VerificationKeyRow",
]
