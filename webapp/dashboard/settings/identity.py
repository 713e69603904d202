"""Settings → Identity verification, Secrets and keys, Token debugger (owners and admins)."""
from __future__ import annotations

from flask import abort, flash, redirect, render_template, request, url_for

from ...auth.forms import EmptyForm
from ...models._types import utcnow
from ...services.keys import debugger, health, keyring, origin_refusals
from ...services.keys.rejections import recent_rejections
from ...services.errors import NotFound, Refused
from .. import bp
from ..access import current_workspace
from .identity_forms import DebuggerForm, PublicKeyForm, SecretForm, VerificationForm
from .fields import edit_settings
from .health import key_usage_shown


# The openssl command that makes each algorithm's PKCS#8 private key (the format every sample loads);
# the page adds `openssl pkey -in private.pem -pubout -out public.pem` (tests/test_samples.py runs both).
KEYGEN = (
    ("EdDSA", "openssl genpkey -algorithm ed25519 -out private.pem"),
    ("ES256", "openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out private.pem"),
    ("PS256", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out private.pem"),
    ("RS256", "openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out private.pem"),
)


def _keys_page(status=200, new_secret=None, key_form=None, secret_form=None):
    tenant = current_workspace()
    rows = keyring.list_keys(tenant)
    return render_template(
        "dashboard/settings/keys.html", tenant=tenant, rows=rows, now=utcnow(), new_secret=new_secret,
        usage=key_usage_shown(tenant, [row.kid for row in rows]),
        secret_form=secret_form or SecretForm(formdata=None), key_form=key_form or PublicKeyForm(formdata=None),
        action_form=EmptyForm(), grace_hours=keyring.grace_seconds() / 3600, max_live=keyring.MAX_LIVE_PER_ALG,
        keygen=KEYGEN,
    ), status


@bp.route("/settings/keys")
def settings_keys():
    return _keys_page()


@bp.route("/settings/keys/secret", methods=["POST"])
def settings_keys_secret():
    form = SecretForm()
    if not form.validate_on_submit():
        abort(400, "The form was incomplete.")
    try:
        row, secret = keyring.create_secret(current_workspace(), replace=form.replace.data, label=form.label.data)
    except Refused as error:  # a label too long, or the workspace holds the most live secrets
        (form.label.errors if error.field == "label" else form.form_errors).append(error.message)
        return _keys_page(400, secret_form=form)
    # Shown in this response only: never stored in the session, never shown again.
    return _keys_page(201, new_secret={"kid": row.kid, "secret": secret})


@bp.route("/settings/keys/public", methods=["POST"])
def settings_keys_public():
    form = PublicKeyForm()
    if form.validate_on_submit():
        pem = form.pem.data or ""
        if form.pem_file.data:
            pem = form.pem_file.data.read(64 * 1024).decode("utf-8", "replace")
        try:
            row = keyring.add_public_key(current_workspace(), pem, form.alg.data, form.replace.data, form.label.data)
        except Refused as error:
            form.pem.errors.append(error.message)
        else:
            flash(f"Public key {row.kid} added ({row.alg}).", "success")
            return redirect(url_for("dashboard.settings_keys"))
    return _keys_page(400, key_form=form)


@bp.route("/settings/keys/<kid>/revoke", methods=["POST"])
def settings_keys_revoke(kid: str):
    if not EmptyForm().validate_on_submit():
        abort(400)
    served = key_usage_shown(current_workspace(), [kid])[kid]
    if served["day"] and request.form.get("confirmed") != kid:  # used in the last 24 h: ask, naming the count
        return render_template("dashboard/settings/revoke_confirm.html", kid=kid, served=served,
                               action_form=EmptyForm())
    try:
        keyring.revoke(current_workspace(), kid)
    except NotFound:
        abort(404)
    flash(f"{kid} is revoked: tokens signed with it are refused from now on.", "success")
    return redirect(url_for("dashboard.settings_keys"))


@bp.route("/settings/identity", methods=["GET", "POST"])
def settings_identity():
    workspace = current_workspace()
    return edit_settings(VerificationForm(obj=workspace), "Identity verification settings saved.",
                         lambda form: render_template(
        "dashboard/settings/identity.html", tenant=workspace, form=form, rows=keyring.list_keys(workspace), now=utcnow(),
        would_refuse=recent_rejections(workspace, outcome="would_refuse"), rollout=health.rollout(workspace.id),
        sample=signing_sample(workspace)))


@bp.route("/settings/debugger", methods=["GET", "POST"])
def settings_debugger():
    tenant = current_workspace()
    form = DebuggerForm()
    result = debugger.diagnose(tenant, form.token.data) if form.validate_on_submit() else None
    rejections = recent_rejections(tenant, outcome="refused")
    return render_template(
        "dashboard/settings/debugger.html", form=form, result=result, now=utcnow(), rejections=rejections,
        refused_origins=origin_refusals.still_refused(tenant, rejections),
    )


def signing_sample(tenant) -> dict:
    """What the code samples are filled with: this tenant's id, audience and newest live key."""
    secret = keyring.newest_active(tenant, "secret")
    public = keyring.newest_active(tenant, "public_key")
    return {
        "tenant_id": tenant.public_id, "audience": tenant.audience, "issuer": tenant.issuer,
        "secret_kid": secret.kid if secret else "YOUR_SECRET_KID", "has_secret": secret is not None,
        "public_kid": public.kid if public else None, "public_alg": public.alg if public else None,
    }
