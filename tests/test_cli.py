"""The `signet` command group: JSON on stdout, a clear message and non-zero exit on error."""
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import Member, Tenant

from .conftest import PASSWORD

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def cli(app):
    runner = app.test_cli_runner()

    def run(*args):
        return runner.invoke(args=["signet", *args])

    return run


def create(cli, name="Acme", email="owner@example.com", password=PASSWORD):
    return cli("tenant", "create", "--name", name, "--owner-email", email, "--owner-password", password)


def test_tenant_create_prints_one_json_line(app, cli):
    result = create(cli)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    data = json.loads(lines[0])
    assert data["tenant_id"].startswith("acme-")
    with app.app_context():
        assert db.session.scalar(select(Tenant.name).where(Tenant.public_id == data["tenant_id"])) == "Acme"


@pytest.mark.parametrize(
    "args, message",
    [
        (("--name", "X", "--owner-email", "bad", "--owner-password", PASSWORD), "valid email"),
        (("--name", "X", "--owner-email", "w@example.com", "--owner-password", "short"), "too weak"),
        (("--name", "", "--owner-email", "w@example.com", "--owner-password", PASSWORD), "1 to 120"),
    ],
)
def test_tenant_create_errors(app, cli, args, message):
    result = cli("tenant", "create", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert message in result.stderr
    with app.app_context():
        assert db.session.scalar(select(Tenant)) is None and db.session.scalar(select(Member)) is None


def test_duplicate_owner_email_is_refused(cli):
    assert create(cli).exit_code == 0
    result = create(cli, name="Other")
    assert result.exit_code == 1 and "already exists" in result.stderr


def test_tenant_set_every_option(cli):
    tenant_id = json.loads(create(cli).stdout)["tenant_id"]
    result = cli(
        "tenant", "set", tenant_id, "--verification", "required",
        "--allowed-origin", "https://app.example.com", "--allowed-origin", "HTTP://LOCALHOST:5001",
        "--seat-limit", "3", "--unsigned-user-limit", "40", "--audience", "acme", "--require-audience", "--issuer", "https://acme.example",
        "--login-links", "on", "--login-links-require-jti", "--login-links-max-age", "300",
        "--email-sign-in", "create", "--require-2fa", "on", "--anonymous-visitors", "off",
        "--anonymous-text", "Please sign in to chat.", "--legacy-user-hash", "on",
    )
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert data == {
        "tenant_id": tenant_id, "name": "Acme", "verification": "required",
        "allowed_origins": ["https://app.example.com", "http://localhost:5001"], "seat_limit": 3,
        "unsigned_user_limit": 40, "audience": "acme", "require_audience": True, "issuer": "https://acme.example", "login_links": "on",
        "login_links_require_jti": True, "login_links_max_age": 300, "email_sign_in": "create",
        "require_2fa": "on", "anonymous_visitors": "off", "anonymous_text": "Please sign in to chat.",
        "legacy_user_hash": "on",
    }
    cleared = json.loads(cli(
        "tenant", "set", tenant_id, "--allowed-origin", "", "--issuer", "", "--seat-limit", "none",
        "--unsigned-user-limit", "none", "--login-links-max-age", "none", "--no-require-audience", "--no-login-links-require-jti", "--login-links", "off",
        "--require-2fa", "off", "--anonymous-visitors", "on", "--anonymous-text", "", "--legacy-user-hash", "off",
    ).stdout)
    assert cleared["allowed_origins"] == [] and cleared["issuer"] is None and cleared["seat_limit"] is None
    assert cleared["unsigned_user_limit"] is None
    assert cleared["login_links_max_age"] is None and cleared["require_audience"] is False
    assert cleared["login_links"] == "off" and cleared["verification"] == "required"
    assert cleared["require_2fa"] == "off" and cleared["anonymous_visitors"] == "on"
    assert cleared["anonymous_text"] is None and cleared["legacy_user_hash"] == "off"


@pytest.mark.parametrize(
    "args, message",
    [
        (("--allowed-origin", "https://app.example.com/path"), "is not an origin"),
        (("--allowed-origin", "not a url"), "is not an origin"),
        (("--allowed-origin", "null"), "is not an origin"),
        (("--seat-limit", "-2"), "whole number"),
        (("--login-links-max-age", "0"), "at least 1"),
        (("--audience", " "), "Must not be empty"),
        (("--verification", "strict"), "Invalid value"),
    ],
)
def test_tenant_set_errors_change_nothing(cli, args, message):
    tenant_id = json.loads(create(cli).stdout)["tenant_id"]
    before = json.loads(cli("tenant", "show", tenant_id).stdout)
    result = cli("tenant", "set", tenant_id, "--allowed-origin", "https://ok.example.com", *args)
    assert result.exit_code != 0
    assert message in result.stderr
    assert json.loads(cli("tenant", "show", tenant_id).stdout) == before


def test_unknown_tenant(cli):
    result = cli("tenant", "set", "nope-123456", "--seat-limit", "3")
    assert result.exit_code == 1 and "No tenant with id 'nope-123456'" in result.stderr
    result = cli("member", "add", "nope-123456", "--email", "a@example.com", "--password", PASSWORD, "--role", "agent")
    assert result.exit_code == 1 and "No tenant" in result.stderr


def test_member_add(cli):
    tenant_id = json.loads(create(cli).stdout)["tenant_id"]
    result = cli("member", "add", tenant_id, "--email", "Agent@Example.com", "--password", PASSWORD, "--role", "agent")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == {"tenant_id": tenant_id, "email": "agent@example.com", "role": "agent"}
    again = cli("member", "add", tenant_id, "--email", "agent@example.com", "--password", PASSWORD, "--role", "admin")
    assert again.exit_code == 1 and "already a member" in again.stderr
    weak = cli("member", "add", tenant_id, "--email", "b@example.com", "--password", "123", "--role", "agent")
    assert weak.exit_code == 1 and "too weak" in weak.stderr
    role = cli("member", "add", tenant_id, "--email", "c@example.com", "--password", PASSWORD, "--role", "root")
    assert role.exit_code == 2 and "Invalid value" in role.stderr


def test_demo_creates_a_workspace_and_reuses_it(app, cli):
    first = cli("demo")
    assert first.exit_code == 0, first.output
    data = json.loads(first.stdout.strip().splitlines()[0])
    assert data["email"] and data["password"] and data["login_url"].endswith("/login")
    again = json.loads(cli("demo", "--if-missing").stdout.strip().splitlines()[0])
    assert again["tenant_id"] == data["tenant_id"]
    demo_file = Path(app.instance_path) / "demo.json"
    assert oct(demo_file.stat().st_mode & 0o777) == "0o600"


def run_flask(tmp_path, *args, env_extra=None):
    env = {
        **os.environ,
        "SIGNET_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.sqlite3'}",
        "SIGNET_SECRET_KEY": "cli-test-secret",
        **(env_extra or {}),
    }
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", *args],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )


def test_the_real_command_line(tmp_path):
    """The documented commands, run as a customer runs them."""
    upgraded = run_flask(tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    created = run_flask(tmp_path, "signet", "tenant", "create", "--name", "Acme", "--owner-email", "o@example.com", "--owner-password", PASSWORD)
    assert created.returncode == 0, created.stderr
    tenant_id = json.loads(created.stdout)["tenant_id"]
    bad = run_flask(tmp_path, "signet", "tenant", "set", tenant_id, "--allowed-origin", "javascript:alert(1)")
    assert bad.returncode == 1 and bad.stdout == "" and "is not an origin" in bad.stderr
