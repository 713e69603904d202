"""Webhook endpoints of a workspace: add (the signing secret shown once), list, remove, enable,
and the dashboard's "Send again" / "Send test event". The dashboard and `signet webhook …` call these.

URL rules (infra/outbound.check_url): https only, and a host resolving to a private, loopback or
link-local address is refused, unless the operator set SIGNET_ALLOW_PRIVATE_URLS=1. The check
runs again on every delivery (outbound.fetch), so a name that later resolves inside is refused then.
"""
from __future__ import annotations

import base64
import secrets

from sqlalchemy import func, select, update

from ...extensions import db
from ...infra import outbound
from ...infra.database import writing
from ...models import Delivery, OutboxEvent, Tenant, WebhookEndpoint
from ...models._types import utcnow
from ...refusals import Invalid, NotFound
from .. import audit, events
from ..keys.keyring import secret_box

MAX_ENDPOINTS = 20
MAX_URL = 2000


def _aad(public_id: str) -> str:
    return f"webhook:{public_id}"


def new_secret() -> str:
    """`whsec_` + base64 of 32 random bytes: what Standard Webhooks libraries take as is."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode("ascii")


def secret_of(endpoint: WebhookEndpoint) -> str:
    return secret_box().decrypt(endpoint.secret_ciphertext, _aad(endpoint.public_id))


def check_events(names) -> list[str]:
    """The event types asked for, each one Signet sends; none means every event."""
    chosen = []
    for name in names or ():
        name = (name or "").strip()
        if name not in events.PUBLIC_TYPES:
            raise Invalid("invalid_field", f"Unknown event '{name[:64]}': choose among "
                                           f"{', '.join(events.PUBLIC_TYPES)}.", "events")
        if name not in chosen:
            chosen.append(name)
    return chosen


def check_url(url: object) -> str:
    if not isinstance(url, str) or not url.strip() or len(url.strip()) > MAX_URL:
        raise Invalid("invalid_field", f"Give the endpoint's URL (at most {MAX_URL} characters).", "url")
    url = url.strip()
    try:
        return outbound.check_url(url)
    except outbound.OutboundRefused as error:
        raise Invalid("url_not_allowed", error.message, "url") from None
    except outbound.OutboundFailed as error:
        raise Invalid("invalid_field", f"The URL's host could not be resolved ({error.reason}).", "url") from None


def add(tenant: Tenant, url: object, event_names=()) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its signing secret (returned this once; stored encrypted)."""
    url, chosen = check_url(url), check_events(event_names)
    secret = new_secret()
    public_id = "wh_" + secrets.token_urlsafe(12)
    with writing():
        count = db.session.scalar(select(func.count()).select_from(WebhookEndpoint)
                                  .where(WebhookEndpoint.tenant_id == tenant.id))
        if count >= MAX_ENDPOINTS:
            raise Invalid("limit_reached", f"A workspace has at most {MAX_ENDPOINTS} webhook endpoints.", "url")
        endpoint = WebhookEndpoint(public_id=public_id, tenant_id=tenant.id, url=url, events=" ".join(chosen),
                                   secret_ciphertext=secret_box().encrypt(secret, _aad(public_id)),
                                   secret_hint=secret[-4:], enabled=True, created_at=utcnow())
        db.session.add(endpoint)
        audit.record(tenant.id, "webhook.added", public_id, after={"url": url, "events": chosen or ["*"]})
        _refresh_subscriptions(tenant.id)
    return endpoint, secret


def list_for(tenant: Tenant) -> list[WebhookEndpoint]:
    return list(db.session.scalars(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant.id)
                                   .order_by(WebhookEndpoint.id)))


def get(tenant: Tenant, public_id: str) -> WebhookEndpoint:
    endpoint = db.session.scalar(select(WebhookEndpoint).where(WebhookEndpoint.tenant_id == tenant.id,
                                                               WebhookEndpoint.public_id == public_id))
    if endpoint is None:
        raise NotFound("not_found", f"No webhook endpoint '{public_id[:64]}' in this workspace.", "id")
    return endpoint


def remove(tenant: Tenant, public_id: str) -> None:
    """The endpoint, its deliveries and their attempts (the events stay for other endpoints)."""
    with writing():
        endpoint = get(tenant, public_id)
        audit.record(tenant.id, "webhook.removed", public_id, before={"url": endpoint.url})
        db.session.delete(endpoint)
        _refresh_subscriptions(tenant.id)


def set_enabled(tenant: Tenant, public_id: str, enabled: bool) -> WebhookEndpoint:
    with writing():
        endpoint = get(tenant, public_id)
        endpoint.enabled, endpoint.disabled_reason = enabled, None if enabled else "Disabled by a member."
        endpoint.failing_since = None
        _refresh_subscriptions(tenant.id)
    return endpoint


def _refresh_subscriptions(tenant_id: int) -> None:
    """`Tenant.webhook_events` from the enabled endpoints, in the transaction that changed one (the
    user write path reads it with the tenant: events.wanted). The tenant row is locked first, so
    two endpoint changes at once each count the other's endpoint (READ COMMITTED reads it after
    the lock). An endpoint the worker disables stays counted until the next change here: events
    recorded for nobody are harmless (the fan-out skips disabled endpoints); one missed is not."""
    db.session.flush()
    db.session.execute(update(Tenant).where(Tenant.id == tenant_id).values(webhook_events=Tenant.webhook_events),
                       execution_options={"synchronize_session": False})
    value = events.subscriptions(db.session.scalars(select(WebhookEndpoint.events).where(
        WebhookEndpoint.tenant_id == tenant_id, WebhookEndpoint.enabled.is_(True))))
    db.session.execute(update(Tenant).where(Tenant.id == tenant_id).values(webhook_events=value),
                       execution_options={"synchronize_session": False})


def send_again(tenant: Tenant, public_id: str, delivery_id: int) -> Delivery:
    """A new delivery of the same event (same webhook-id) to this endpoint, due now."""
    with writing():
        endpoint = get(tenant, public_id)
        old = db.session.scalar(select(Delivery).where(Delivery.id == delivery_id,
                                                       Delivery.endpoint_id == endpoint.id))
        if old is None:
            raise NotFound("not_found", "No such delivery for this endpoint.", "delivery")
        again = Delivery(event_id=old.event_id, tenant_id=tenant.id, kind="webhook", endpoint_id=endpoint.id,
                         next_attempt_at=utcnow())
        db.session.add(again)
    return again


def send_test(tenant: Tenant, public_id: str) -> Delivery:
    """A `webhook.test` event for this endpoint only (already fanned out: one delivery)."""
    with writing():
        endpoint = get(tenant, public_id)
        event = events.emit(tenant.id, events.TEST_TYPE, {"endpoint": endpoint.public_id,
                                                          "message": "A test event from Signet."})
        event.dispatched_at = utcnow()
        db.session.flush()
        delivery = Delivery(event_id=event.id, tenant_id=tenant.id, kind="webhook", endpoint_id=endpoint.id,
                            next_attempt_at=utcnow())
        db.session.add(delivery)
    return delivery


def recent_deliveries(endpoint: WebhookEndpoint, limit: int = 50) -> list[tuple[Delivery, OutboxEvent, list]]:
    """The newest deliveries with their event and attempts (newest first), for the endpoint page."""
    from ...models import DeliveryAttempt

    rows = list(db.session.execute(select(Delivery, OutboxEvent).join(OutboxEvent, Delivery.event_id == OutboxEvent.id)
                                   .where(Delivery.endpoint_id == endpoint.id)
                                   .order_by(Delivery.id.desc()).limit(limit)))
    ids = [d.id for d, _ in rows]
    attempts: dict[int, list] = {i: [] for i in ids}
    if ids:
        for a in db.session.scalars(select(DeliveryAttempt).where(DeliveryAttempt.delivery_id.in_(ids))
                                    .order_by(DeliveryAttempt.id.desc())):
            attempts[a.delivery_id].append(a)
    return [(d, e, attempts[d.id]) for d, e in rows]


def to_dict(endpoint: WebhookEndpoint, secret: str | None = None) -> dict:
    out = {"id": endpoint.public_id, "url": endpoint.url, "events": endpoint.event_list or ["*"],
           "enabled": endpoint.enabled, "disabled_reason": endpoint.disabled_reason,
           "failing_since": events.iso(endpoint.failing_since) if endpoint.failing_since else None,
           "secret_hint": endpoint.masked_secret, "created_at": events.iso(endpoint.created_at)}
    if secret is not None:
        out["secret"] = secret
    return out
