"""Typed tables, one module per aggregate. Importing this registers every model."""
from .apikeys import API_KEY_SCOPES, ApiKey
from .conversation import Conversation, Message
from .idempotency import IdempotencyKey
from .identity_providers import IdentityProvider
from .keys import Rejection, UsedJti, VerificationKeyRow
from .member import ROLES, Member, Membership
from .end_user import EndUser, Organization, OrgMembership, RevokedSession
from .signin import EmailSignIn
from .staff import Invitation, StaffThrottle, StaffToken
from .staff_security import AuditEntry, DashboardSession, SsoProvider
from .tenant import EMAIL_SIGN_IN_MODES, VERIFICATION_MODES, Tenant
from .usage import UnsignedIdSample, UsageCount
from .twofactor import Passkey, RecoveryCode, TotpFactor
from .webhooks import Delivery, DeliveryAttempt, NotificationSetting, OutboxEvent, WaitNotice, WebhookEndpoint

__all__ = [
    "API_KEY_SCOPES", "ApiKey",
    "Delivery", "DeliveryAttempt", "NotificationSetting", "OutboxEvent", "WaitNotice", "WebhookEndpoint",
    "AuditEntry", "DashboardSession", "SsoProvider",
    "Conversation", "EMAIL_SIGN_IN_MODES", "EmailSignIn", "EndUser", "IdempotencyKey", "Member", "Membership", "Message", "OrgMembership",
    "Invitation", "Organization", "ROLES", "Rejection", "RevokedSession", "Tenant", "UsedJti", "VERIFICATION_MODES",
    "VerificationKeyRow", "StaffThrottle", "StaffToken",
    "Passkey", "RecoveryCode", "TotpFactor",
    "IdentityProvider",
    "UnsignedIdSample", "UsageCount",
]
