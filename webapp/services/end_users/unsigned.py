"""What unsigned user data may not do (API.md §9): in Required mode it is refused
(`verification_required`); in Report mode it is accepted and noted as "would refuse"; and it may
never join, rename or change an organization signed data described."""
from __future__ import annotations

from ...extensions import db
from ...identity.userdata import MISSING, UserData
from ...refusals import Forbidden
from . import organizations
from ..keys.rejections import add_rejection, record_rejection_now, to_record
from .snapshots import TenantSettings


def refuse(tenant: TenantSettings, user_id: str, origin: str | None, message: str,
                     field: str | None = None) -> None:
    raise to_record(Forbidden("verification_required", f"{field}: {message}" if field else message, field), tenant,
                    f"Unsigned data for user '{user_id[:100]}'. {message}", origin=origin)


def check_orgs(tenant: TenantSettings, data: UserData, current, origin: str | None, lock: bool = False) -> None:
    """Unsigned data may not join, rename or change an organization signed data described (§9)."""
    if data.organizations is MISSING:
        return
    org = organizations.refused_for_unsigned(tenant.id, current, data.organizations, lock=lock)
    if org is not None:
        refuse_signed_org(tenant, data, org, origin)


def refuse_signed_org(tenant: TenantSettings, data: UserData, org, origin: str | None) -> None:
    refuse(tenant, data.id, origin, f"the organization '{org.id[:100]}' is managed by signed data:"
                     " unsigned data may not join, rename or change it (send {jwt}).", f"{org.path}.id")


def log_would_refuse(tenant: TenantSettings, user_id: str, origin: str | None, in_transaction: bool = False) -> None:
    """Report mode's note: a row added to the caller's write transaction, or else recorded now, apart."""
    message = f"Unsigned data for user '{user_id[:100]}' was accepted; Required mode would refuse it."
    if in_transaction:
        add_rejection(db.session, tenant.id, "verification_required", message, origin=origin, outcome="would_refuse")
    else:
        record_rejection_now(tenant, "verification_required", message, origin=origin, outcome="would_refuse")
