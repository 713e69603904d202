"""The audit core: one entry in the caller's transaction, the actor and address from context."""
from __future__ import annotations

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.infra.database import writing
from webapp.models import AuditEntry
from webapp.services import audit


def entries(app, tenant_id):
    with app.app_context():
        return list(db.session.scalars(select(AuditEntry).where(AuditEntry.tenant_id == tenant_id).order_by(AuditEntry.id)))


def test_record_joins_the_callers_transaction_and_rolls_back_with_it(app, factory):
    tenant = factory.tenant()
    with app.app_context():
        with pytest.raises(RuntimeError):
            with writing():
                audit.record(tenant.id, "test.thing", "x")
                raise RuntimeError("fault between the change and its commit")
    assert [e for e in entries(app, tenant.id) if e.action == "test.thing"] == []
    with app.app_context():
        with writing():
            audit.record(tenant.id, "test.thing", "x", before={"a": 1}, after={"a": 2})
    [entry] = [e for e in entries(app, tenant.id) if e.action == "test.thing"]
    assert (entry.actor, entry.actor_member_id, entry.before, entry.after) == ("system", None, {"a": 1}, {"a": 2})


def test_acting_as_and_request_context(app, factory):
    tenant = factory.tenant()
    with app.test_request_context("/", environ_base={"REMOTE_ADDR": "203.0.113.9"}):
        with audit.acting_as("api key deploy"):
            audit.record(tenant.id, "test.api")
        db.session.commit()
    [entry] = [e for e in entries(app, tenant.id) if e.action == "test.api"]
    assert (entry.actor, entry.address) == ("api key deploy", "203.0.113.9")
