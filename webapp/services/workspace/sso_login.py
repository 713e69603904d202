"""Signing staff in through their workspace's OpenID Connect provider: authorization code with
PKCE (S256), `state` and `nonce` (Authlib's helpers make them and the challenge), the code
exchanged at the token endpoint (infra/outbound.py: https and public addresses only, no
redirects), and the ID token verified with the provider's JWKS by the identity core's rules
(identity/providers.py: pinned algorithms, exp/nbf/iat with leeway) plus OIDC's: iss = the
configured issuer, aud = the client id, the nonce this browser was given, and an email in the
provider's domain (a provider speaks only for its own domain: never for another workspace's
owner). A verified login for a new address creates a verified member with the default role."""
from __future__ import annotations

import hmac
import json
import time
from base64 import b64encode
from urllib.parse import urlencode

from authlib.common.security import generate_token
from authlib.common.urls import add_params_to_uri
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import select

from ...extensions import db
from ...identity import jose
from ...identity.errors import TokenRefused
from ...identity.providers import ProviderPolicy, parse_jwks, verify_provider_token
from ...infra import outbound
from ...infra.database import writing
from ...models import Member, Membership, SsoProvider
from .. import audit
from . import dashboard_sessions, members, sso

STATE_SECONDS = 10 * 60


class SsoFailed(Exception):
    """A sign-in that did not verify: `reason` is shown on the error page and audited."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _json(url: str, what: str, **kwargs) -> dict:
    try:
        answer = outbound.fetch(url, max_bytes=262144, **kwargs)
    except (outbound.OutboundRefused, outbound.OutboundFailed) as error:
        raise SsoFailed(f"The identity provider's {what} could not be reached: {error.reason}") from None
    try:
        data = json.loads(answer.body)
    except ValueError:
        data = None
    if answer.status != 200 or answer.truncated or not isinstance(data, dict):
        raise SsoFailed(f"The identity provider's {what} answered {answer.status} without a usable document.")
    return data


def discover(provider: SsoProvider) -> dict:
    doc = _json(provider.issuer + "/.well-known/openid-configuration", "discovery document")
    if doc.get("issuer", "").rstrip("/") != provider.issuer:
        raise SsoFailed("The identity provider's discovery document names another issuer.")
    for name in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        if not isinstance(doc.get(name), str):
            raise SsoFailed(f"The identity provider's discovery document has no {name}.")
    return doc


def begin(provider: SsoProvider, redirect_uri: str) -> tuple[str, dict]:
    """(the provider's authorize URL, the state to keep in this browser's signed session)."""
    doc = discover(provider)
    state, nonce, verifier = generate_token(32), generate_token(32), generate_token(64)
    url = add_params_to_uri(doc["authorization_endpoint"], [
        ("response_type", "code"), ("client_id", provider.client_id), ("redirect_uri", redirect_uri),
        ("scope", "openid email profile"), ("state", state), ("nonce", nonce),
        ("code_challenge", create_s256_code_challenge(verifier)), ("code_challenge_method", "S256")])
    return url, {"provider": provider.id, "state": state, "nonce": nonce, "verifier": verifier,
                 "exp": int(time.time()) + STATE_SECONDS}


def provider_of_state(kept: object) -> SsoProvider | None:
    if not isinstance(kept, dict) or not isinstance(kept.get("provider"), int):
        return None
    return db.session.get(SsoProvider, kept["provider"])


def finish(provider: SsoProvider, kept: dict, state: str, code: str, redirect_uri: str) -> dict:
    """The verified ID token's claims, or SsoFailed (the caller audits it)."""
    if not isinstance(state, str) or not hmac.compare_digest(state.encode(), str(kept.get("state", "")).encode()):
        raise SsoFailed("The sign-in's state does not match the one this browser started: start again.")
    if kept.get("exp", 0) < time.time():
        raise SsoFailed("The sign-in took too long: start again.")
    if not code or len(code) > 2048:
        raise SsoFailed("The identity provider sent no authorization code.")
    doc = discover(provider)
    tokens = _json(doc["token_endpoint"], "token endpoint", method="POST", **_token_request(provider, doc, code,
                                                                                          redirect_uri, kept["verifier"]))
    id_token = tokens.get("id_token")
    if not isinstance(id_token, str):
        raise SsoFailed("The identity provider answered without an ID token.")
    return verify_id_token(provider, id_token, _json(doc["jwks_uri"], "JWKS"), kept["nonce"])


def _token_request(provider: SsoProvider, doc: dict, code: str, redirect_uri: str, verifier: str) -> dict:
    form = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    secret = sso.client_secret(provider)
    methods = doc.get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    if "client_secret_basic" in methods:
        pair = f"{_form(provider.client_id)}:{_form(secret)}".encode()
        headers["Authorization"] = "Basic " + b64encode(pair).decode()
    else:
        form.update(client_id=provider.client_id, client_secret=secret)
    return {"body": urlencode(form).encode(), "headers": headers}


def _form(value: str) -> str:
    from urllib.parse import quote_plus  # RFC 6749 §2.3.1: form-encode before the Basic pair

    return quote_plus(value)


def verify_id_token(provider: SsoProvider, id_token: str, jwks: dict, nonce: str) -> dict:
    try:
        keys = parse_jwks(json.dumps(jwks)).keys
    except ValueError as error:
        raise SsoFailed(f"The identity provider's JWKS is not usable: {error}") from None
    policy = ProviderPolicy(public_id="sso", name="single sign-on", issuer=provider.issuer,
                            audiences=(provider.client_id,))
    try:
        verify_provider_token(id_token, keys=keys, provider=policy, now=time.time())
    except TokenRefused as refused:
        raise SsoFailed(f"The ID token was refused ({refused.code}): {refused.message}") from None
    claims = jose.decode_segment(jose.check_shape(id_token)[1], "payload")  # verified above
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"].encode(), nonce.encode()):
        raise SsoFailed("The ID token's nonce is not the one this sign-in sent: start again.")
    email = claims.get("email")
    if not isinstance(email, str) or claims.get("email_verified") in (False, "false"):
        raise SsoFailed("The identity provider did not give a verified email address.")
    if sso.domain_of(email) != provider.email_domain:
        raise SsoFailed(f"The identity provider signs in addresses of {provider.email_domain} only here.")
    return claims


def sign_in(provider: SsoProvider, email: str) -> Member:
    """The member for a verified address: created (verified, an unusable password, the default
    role) or found; joined to the provider's workspace when not yet a member. Audited."""
    address = email.strip().lower()
    with writing(), audit.acting_as(address):
        member = members.find_member(address)
        if member is None:
            member = members.create_member(address, "", verified=True,
                                           password_hash=members.hash_password(generate_token(48)))
            db.session.flush()
        elif not member.is_verified:
            # Someone signed up with this address and never proved it: the provider proves it now,
            # and whoever chose that password (perhaps not the address's owner) loses it and every
            # session, as a password reset would do.
            member.password_hash = members.hash_password(generate_token(48))
            members.mark_verified(member.id)
            dashboard_sessions.end_all(member.id, "address proven by single sign-on")
        if db.session.scalar(select(Membership.id).where(Membership.member_id == member.id,
                                                         Membership.tenant_id == provider.tenant_id)) is None:
            db.session.add(Membership(tenant_id=provider.tenant_id, member_id=member.id, role=provider.default_role))
            audit.record(provider.tenant_id, "member.added", address, after={"role": provider.default_role, "via": "sso"},
                         actor_member_id=member.id)
        member_id = member.id
    return db.session.get(Member, member_id)


def record_failure(provider: SsoProvider | None, reason: str, address: str) -> None:
    """sso.login_failed in the provider's workspace (none known: nothing to record in)."""
    if provider is None:
        return
    with writing():
        audit.record(provider.tenant_id, "sso.login_failed", provider.email_domain, after={"reason": reason[:500]},
                     actor="single sign-on", address=address)
