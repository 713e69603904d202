"""With the database unreachable, the API answers 503 service_unavailable and pages say so: no 500."""
from webapp import create_app

from .helpers import csrf_of

UNREACHABLE = "postgresql+psycopg://signet:signet@127.0.0.1:9/none"  # nothing listens on port 9


def test_unreachable_database_gives_503_not_500(tmp_path):
    app = create_app({"SQLALCHEMY_DATABASE_URI": UNREACHABLE, "SECRET_KEY": "faults"}, instance_path=str(tmp_path))
    client = app.test_client()
    api = client.post("/api/v1/widget/any-tenant/set-user", json={"id": None})
    assert api.status_code == 503
    assert api.json["error"]["code"] == "service_unavailable"
    assert api.headers["Retry-After"] == "5"
    token = csrf_of(client.get("/login").get_data(as_text=True))
    page = client.post("/login", data={"email": "a@example.com", "password": "whatever-123", "csrf_token": token})
    assert page.status_code == 503
    assert "cannot reach its database" in page.get_data(as_text=True)
    health = client.get("/healthz")
    assert health.status_code == 503 and health.json == {"status": "unavailable"}
