"""The `flask --app wsgi signet …` group (API.md §6): JSON on stdout, errors on stderr."""
from __future__ import annotations

import json
import sys
from functools import wraps

import click
from flask import Flask
from flask.cli import AppGroup

from .services.keys import keyring, pruning
from .services.workspace import members, tenants
from .services.errors import Invalid, Refused

signet = AppGroup("signet", help="Manage Signet tenants, members, secrets and keys.")


def emit(obj: dict) -> None:
    click.echo(json.dumps(obj, separators=(",", ":"), sort_keys=False))


def command(group, name: str):
    """A command whose refusal (webapp/refusals.py) becomes a message on stderr and exit status 1."""

    def decorate(fn):
        @wraps(fn)
        def wrapper(*args, **kwargs):
            try:
                return fn(*args, **kwargs)
            except Refused as error:
                where = f" ({error.field})" if error.field else ""
                click.echo(f"Error{where}: {error.message}", err=True)
                sys.exit(1)

        return group.command(name)(wrapper)

    return decorate


def tenant_command(group, name: str):
    """A `command` whose first argument is a workspace's id (TENANT_ID): the function gets the
    Tenant row in its place; an unknown id is refused like any other refusal."""

    def decorate(fn):
        @wraps(fn)  # keeps the help text and fn's own click options
        def with_tenant(tenant_id: str, **kwargs):
            return fn(tenants.get_tenant(tenant_id), **kwargs)

        return command(group, name)(click.argument("tenant_id")(with_tenant))

    return decorate


@signet.group("tenant")
def tenant_group():
    """Create and configure tenants."""


@command(tenant_group, "create")
@click.option("--name", required=True)
@click.option("--owner-email", required=True)
@click.option("--owner-password", required=True)
def tenant_create(name: str, owner_email: str, owner_password: str):
    """Create a workspace and its owner; the operator is trusted, so the owner's email counts
    as verified (/signup proves it by mail instead)."""
    tenant = tenants.create_tenant(name, owner_email, owner_password)
    emit({"tenant_id": tenant.public_id, "name": tenant.name, "owner_email": owner_email.strip().lower()})


def _on_off(value: str | None) -> bool | None:
    return None if value is None else value == "on"


def _limit(value: str | None):
    """A limit as typed: `none` (or nothing) removes it, anything else goes to the service as text."""
    if value is not None and value.strip().lower() in ("none", ""):
        return tenants.CLEAR
    return value


@command(tenant_group, "set")
@click.argument("tenant_id")
@click.option("--name")
@click.option("--verification", type=click.Choice(["optional", "report", "required"]))
@click.option("--allowed-origin", "allowed_origins", multiple=True, help="Repeat for each origin; '' clears the list.")
@click.option("--seat-limit", help="Verified users (signed data, login links, email sign-in): a number, or 'none'.")
@click.option("--unsigned-user-limit", help="Users known only from unsigned data: a number, or 'none'.")
@click.option("--audience")
@click.option("--require-audience/--no-require-audience", default=None)
@click.option("--issuer", help="'' removes the pin.")
@click.option("--login-links", type=click.Choice(["on", "off"]))
@click.option("--login-links-require-jti/--no-login-links-require-jti", default=None)
@click.option("--login-links-max-age", help="Seconds, or 'none'.")
@click.option("--email-sign-in", type=click.Choice(["off", "existing", "create"]))
@click.option("--require-2fa", "require_2fa", type=click.Choice(["on", "off"]),
              help="Members without two-factor must set it up before anything else.")
@click.option("--anonymous-visitors", type=click.Choice(["on", "off"]), help="Off: set-user {id: null} is refused.")
@click.option("--legacy-user-hash", type=click.Choice(["on", "off"]),
              help="On: setUser({id, userHash}) with an HMAC-SHA256 of the id by a live signing secret proves the id.")
@click.option("--anonymous-text", help="Shown to unidentified visitors instead of a chat when anonymous visitors are off; '' resets.")
def tenant_set(tenant_id: str, **opts):
    tenant = tenants.get_tenant(tenant_id)
    origins = opts["allowed_origins"]
    changes = tenants.Settings(
        name=opts["name"],
        verification_mode=opts["verification"],
        allowed_origins=[o for o in origins if o != ""] if origins else None,
        seat_limit=_limit(opts["seat_limit"]),
        unsigned_user_limit=_limit(opts["unsigned_user_limit"]),
        audience=opts["audience"],
        require_audience=opts["require_audience"],
        issuer=tenants.CLEAR if opts["issuer"] == "" else opts["issuer"],
        login_links_enabled=_on_off(opts["login_links"]),
        login_links_require_jti=opts["login_links_require_jti"],
        login_links_max_age=_limit(opts["login_links_max_age"]),
        email_sign_in=opts["email_sign_in"],
        require_two_factor=_on_off(opts["require_2fa"]),
        anonymous_visitors=_on_off(opts["anonymous_visitors"]),
        legacy_user_hash=_on_off(opts["legacy_user_hash"]),
        anonymous_text=tenants.CLEAR if opts["anonymous_text"] == "" else opts["anonymous_text"],
    )
    emit(tenants.to_dict(tenants.update_settings(tenant, changes)))


@command(tenant_group, "show")
@click.argument("tenant_id")
def tenant_show(tenant_id: str):
    emit(tenants.to_dict(tenants.get_tenant(tenant_id)))


@signet.group("member")
def member_group():
    """Manage dashboard members."""


@command(member_group, "add")
@click.argument("tenant_id")
@click.option("--email", required=True)
@click.option("--password", required=True, help="Used when the account is new; an existing account keeps its own.")
@click.option("--role", type=click.Choice(["owner", "admin", "agent"]), required=True)
def member_add(tenant_id: str, email: str, password: str, role: str):
    """Add a member at once, as the trusted operator: no invitation is mailed and a new account
    is created with its email already verified (the team page invites instead). An existing
    account keeps its password and must have verified its email."""
    tenant = tenants.get_tenant(tenant_id)
    existed = members.find_member(email) is not None
    link = members.add_to_tenant(tenant, email, password, role)
    if existed:  # stdout stays the JSON answer
        click.echo(f"{link.member.email} already had an account: it keeps its own password (--password was "
                   "not used).", err=True)
    emit({"tenant_id": tenant.public_id, "email": link.member.email, "role": link.role})


@command(member_group, "reset-2fa")
@click.argument("tenant_id")
@click.argument("email")
def member_reset_2fa(tenant_id: str, email: str):
    """Remove every second factor of a member of this workspace (authenticator app, passkeys,
    recovery codes), e.g. for a locked-out owner; audited as "command line"."""
    from .services.workspace import twofactor

    tenant = tenants.get_tenant(tenant_id)
    member = twofactor.member_of(tenant.id, email)
    removed = twofactor.reset_member(tenant.id, member)
    emit({"tenant_id": tenant.public_id, "email": member.email, "removed": removed})


def init_app(app: Flask) -> None:
    from . import commands, demo_workspace  # noqa: F401  (register `signet demo` and the rest)

    app.cli.add_command(signet)


@signet.group("secret")
def secret_group():
    """HS256 signing secrets."""


@command(secret_group, "create")
@click.argument("tenant_id")
@click.option("--replace", is_flag=True, help="Put every live secret into its grace window.")
@click.option("--label", help="A note for people, e.g. 'production backend'.")
def secret_create(tenant_id: str, replace: bool, label: str | None):
    row, secret = keyring.create_secret(tenants.get_tenant(tenant_id), replace=replace, label=label)
    emit({"kid": row.kid, "secret": secret})


@signet.group("key")
def key_group():
    """Uploaded public keys (and revoking any secret or key)."""


@command(key_group, "add")
@click.argument("tenant_id")
@click.option("--alg", required=True, type=click.Choice(["EdDSA", "ES256", "PS256", "RS256", "auto"]),
              help="The algorithm the key is pinned to ('auto' detects it).")
@click.option("--file", "pem_file", required=True, type=click.File("r"), help="An SPKI PEM public key ('-' for stdin).")
@click.option("--replace", is_flag=True, help="Put every live public key into its grace window.")
@click.option("--label")
def key_add(tenant_id: str, alg: str, pem_file, replace: bool, label: str | None):
    tenant = tenants.get_tenant(tenant_id)
    try:
        pem = pem_file.read(64 * 1024)
    except UnicodeDecodeError:
        raise Invalid("invalid_field", "The file is not a text PEM file.", "file") from None
    row = keyring.add_public_key(tenant, pem, None if alg == "auto" else alg, replace=replace, label=label)
    emit({"kid": row.kid, "fingerprint": row.fingerprint, "alg": row.alg})


@command(key_group, "revoke")
@click.argument("tenant_id")
@click.argument("kid")
def key_revoke(tenant_id: str, kid: str):
    row = keyring.revoke(tenants.get_tenant(tenant_id), kid)
    emit(keyring.key_summary(row))


@command(key_group, "list")
@click.argument("tenant_id")
def key_list(tenant_id: str):
    rows = keyring.list_keys(tenants.get_tenant(tenant_id))
    emit({"keys": [keyring.key_summary(row) for row in rows]})


@command(signet, "prune")
def prune():
    """Delete expired one-time-token records, idempotency keys, old rejection-log rows, and webhook
    deliveries, attempts and outbox events past SIGNET_WEBHOOK_RETENTION_DAYS."""
    from .models._types import utcnow
    from .services.end_users import idempotency
    from .services.webhooks import pruning as outbox_pruning

    emit({**pruning.prune(), "idempotency_keys": idempotency.prune(), **outbox_pruning.prune(utcnow())})


@command(signet, "seed")
@click.argument("tenant_id")
@click.option("--users", type=click.IntRange(min=0), required=True, help="How many users to add (user-N …).")
@click.option("--conversations", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--messages-per-conversation", type=click.IntRange(min=1), default=4, show_default=True)
def seed_command(tenant_id: str, users: int, conversations: int, messages_per_conversation: int):
    """Bulk synthetic users and conversations for benchmarks; numbering continues after the
    tenant's highest existing user-N. Progress on stderr, one JSON line on stdout."""
    from .services.workspace import seed

    result = seed.seed(tenants.get_tenant(tenant_id), users, conversations, messages_per_conversation,
                       progress=lambda line: click.echo(line, err=True))
    emit(result.to_dict())
