"""Typed tables, one module per aggregate. Importing this registers every model."""
from .conversation import Conversation, Message
from .idempotency import IdempotencyKey
from .keys import Rejection, UsedJti, VerificationKeyRow
from .member import ROLES, Member, Membership
from .end_user import EndUser, Organization, OrgMembership, RevokedSession
from .signin import EmailSignIn
from .staff import Invitation, StaffThrottle, StaffToken
from .staff_security import AuditEntry
from .tenant import EMAIL_SIGN_IN_MODES, VERIFICATION_MODES, Tenant

__all__ = [
    "AuditEntry",
    "Conversation", "EMAIL_SIGN_IN_MODES", "EmailSignIn", "EndUser", "IdempotencyKey", "Member", "Membership", "Message", "OrgMembership",
    "Invitation", "Organization", "ROLES", "Rejection", "RevokedSession", "Tenant", "UsedJti", "VERIFICATION_MODES",
    "VerificationKeyRow", "StaffThrottle", "StaffToken",
]
