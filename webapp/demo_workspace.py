"""`signet demo`: a ready-to-try workspace, its owner and keys, and what to open."""
from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

import click
from flask import current_app

from .cli import command, emit, signet
from .services.keys import keyring
from .services.workspace import members, tenants
from .services.errors import NotFound
from .services.workspace.validation import normalize_origin

DEMO_EMAIL = "demo@example.com"
DEMO_SITE = "http://localhost:5001"


def _demo_file() -> Path:
    return Path(current_app.instance_path) / "demo.json"


def _load_existing() -> dict | None:
    """The demo written by an earlier run, if its tenant is still in this database."""
    path = _demo_file()
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    if "secret" not in data:  # written by an older Signet: make a complete demo
        return None
    try:
        tenants.get_tenant(data["tenant_id"])
    except NotFound:  # a stale file from another database: make a new demo
        return None
    return data


def create_demo(site_url: str = DEMO_SITE) -> dict:
    password = "demo-" + secrets.token_urlsafe(9)
    email = DEMO_EMAIL if members.find_member(DEMO_EMAIL) is None else f"demo+{secrets.token_hex(3)}@example.com"
    tenant = tenants.create_tenant("Demo Co", email, password)
    tenants.update_settings(tenant, tenants.Settings(allowed_origins=[site_url], login_links_enabled=True))
    row, secret = keyring.create_secret(tenant, label="demo customer site")
    # The demo customer site (demo/app.py) signs its users with this secret, as a backend would.
    data = {"tenant_id": tenant.public_id, "email": email, "password": password, "kid": row.kid, "secret": secret}
    path = _demo_file()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return data


def _allow_site(tenant_id: str, site_url: str) -> None:
    """A reused demo served on another port (`make run DEMO_PORT=8001`) still loads its widget."""
    tenant = tenants.get_tenant(tenant_id)
    origins = list(tenant.allowed_origins or [])
    if normalize_origin(site_url) not in origins:
        tenants.update_settings(tenant, tenants.Settings(allowed_origins=origins + [site_url]))


@command(signet, "demo")
@click.option("--if-missing", is_flag=True, help="Reuse the demo workspace made earlier, if there is one.")
@click.option("--base-url", default="http://127.0.0.1:5000", show_default=True)
@click.option("--site-url", default=DEMO_SITE, show_default=True,
              help="Where the demo customer site runs (`make run DEMO_PORT=…`): an allowed origin.")
@click.option("--quiet", is_flag=True, help="Only the JSON line, no human summary on stderr.")
def demo(if_missing: bool, base_url: str, site_url: str, quiet: bool):
    existing = _load_existing() if if_missing else None
    if existing is not None:
        _allow_site(existing["tenant_id"], site_url)
    data = existing or create_demo(site_url)
    public = {k: v for k, v in data.items() if k not in ("secret",)}
    public["login_url"] = f"{base_url}/login"
    public["demo_site"] = site_url
    emit(public)
    if quiet:
        return
    click.echo(
        f"\nSignet demo workspace '{data['tenant_id']}'\n"
        f"  Log in at {base_url}/login as {data['email']} with password {data['password']}\n",
        err=True,
    )
