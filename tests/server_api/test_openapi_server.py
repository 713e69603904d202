"""The server API's OpenAPI document, and schemathesis fuzzing every route with a write key:
never a 5xx, every answer matches the document."""
import tempfile
from pathlib import Path

import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error, response_schema_conformance

from webapp.extensions import db
from webapp.services.keys import apikeys
from webapp.services.workspace import tenants

from ..conftest import PASSWORD, make_app

APP = make_app(Path(tempfile.mkdtemp(prefix="signet-server-openapi-")), SIGNET_SERVER_RATELIMIT=None)
with APP.app_context():
    _tenant = tenants.create_tenant("Fuzz", "fuzz-server@example.com", PASSWORD)
    _row, KEY = apikeys.create(_tenant, "fuzz", "write")
    db.session.remove()
_client = APP.test_client()
_auth = {"Authorization": f"Bearer {KEY}"}
_client.put("/api/v1/server/users/u-1", json={"organizations": [{"id": "o-1", "name": "One"}]}, headers=_auth)

schema = schemathesis.openapi.from_wsgi("/api/v1/server/openapi.json", APP)


def test_document_lists_every_route(app):
    paths = app.test_client().get("/api/v1/server/openapi.json").get_json()["paths"]
    methods = {(m.upper(), p) for p, item in paths.items() for m in item if m != "parameters"}
    rules = {(m, r.rule.replace("<path:", "{").replace("<", "{").replace(">", "}"))
             for r in app.url_map.iter_rules() if r.rule.startswith("/api/v1/server/") and "openapi" not in r.rule
             for m in r.methods - {"HEAD", "OPTIONS"}}
    assert methods == rules


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck), database=None)
def test_server_api_never_answers_5xx(case):
    case.headers = {**(case.headers or {}), **_auth}
    case.call_and_validate(checks=[not_a_server_error, response_schema_conformance])
