"""The OpenAPI description of the widget API, and schemathesis fuzzing it: never a 5xx."""
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from webapp.extensions import db
from webapp.services.keys import keyring
from webapp.services.end_users import sessions
from webapp.services.workspace import tenants

from .conftest import PASSWORD, make_app

# One app for the module: schemathesis builds its tests when the module is collected.
APP = make_app(Path(tempfile.mkdtemp(prefix="signet-openapi-")))
with APP.app_context():
    _tenant = tenants.create_tenant("Fuzz", "fuzz@example.com", PASSWORD)
    TENANT = _tenant.public_id
    keyring.create_secret(_tenant)
    SESSION, _ = sessions.issue(_tenant, visitor_id=sessions.new_visitor_id())
    db.session.remove()

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", APP)


def test_openapi_document_is_served(app):
    response = app.test_client().get("/api/v1/openapi.json")
    assert response.status_code == 200
    doc = response.json
    assert doc["openapi"] == "3.1.0"
    paths = doc["paths"]
    assert "/api/v1/widget/{tenant_id}/set-user" in paths
    assert {"get", "post"} <= set(paths["/api/v1/widget/{tenant_id}/conversations"])
    # Idempotency (CONTRACT-NOTES): the optional header on both creating writes, clientMessageId, the 409
    for path in ("/api/v1/widget/{tenant_id}/conversations", "/api/v1/widget/{tenant_id}/conversations/{conversation_id}/messages"):
        post = paths[path]["post"]
        [key] = [p for p in post["parameters"] if p["name"] == "Idempotency-Key"]
        assert key["in"] == "header" and key["required"] is False
        assert "409" in post["responses"]
    message_post = paths["/api/v1/widget/{tenant_id}/conversations/{conversation_id}/messages"]["post"]
    body_schema = message_post["requestBody"]["content"]["application/json"]["schema"]
    assert body_schema["properties"]["clientMessageId"]["pattern"] == "^[A-Za-z0-9_-]{1,64}$"


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_widget_api_never_answers_5xx(case):
    case.path_parameters = {**(case.path_parameters or {}), "tenant_id": TENANT}
    headers = dict(case.headers or {})
    if case.operation.method.lower() != "post" or not case.path.endswith("set-user"):
        headers.setdefault("Authorization", f"Bearer {SESSION}")
    case.headers = headers
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
