"""Identity providers' tokens (issue 14): JWKS keys, the provider's claim rules, the claim mapping.

A token whose `iss` is a configured provider's issuer is verified here, with that provider's keys
only (never the tenant's uploaded keys or secrets, and those never verify a provider's token: the
caller picks the path by `peek_issuer`). The contract's §4 rules hold as for every token (shape,
size, crit, exp required, nbf/iat with leeway, jti one-time) and the §3 codes answer; what
differs: the audience is the provider's (`aud` contains a configured audience, or `azp` equals a
configured authorized party), `tid` is the provider's own claim (Entra ID) and is not checked,
`sub` and `id` are not compared (the claim mapping picks the id), and `ctx` is dropped (a provider's
token never carries a session scope: map_claims).

JWKS keys (RFC 7517/7518) are accepted as the uploaded keys are (keys.py): RSA 2048-4096 bits
with e = 65537 (RS256, or PS256 when the key says so), EC P-256 (ES256), OKP Ed25519 (EdDSA), each
pinned to its `alg` (or its key type's algorithm: RS256 for RSA). Everything else is ignored with
a reason the settings page shows: `use` other than `sig`, `key_ops` without `verify`, other
curves and types, weak RSA, private parts, a duplicate kid, past MAX_KEYS.
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from . import jose
from .errors import TokenRefused
from .keys import rsa_problem
from .verifier import VerificationKey, VerifiedToken, _check_times, _verifying_key, candidate_keys, too_many_without_kid

MAX_KEYS = 20  # usable keys kept from one JWKS: each costs a little memory, never a signature check
_PRIVATE = ("d", "p", "q", "dp", "dq", "qi", "oth", "k")
_KTY_ALGS = {"RSA": ("RS256", "PS256"), "EC": ("ES256",), "OKP": ("EdDSA",)}


@dataclass(frozen=True)
class ProviderPolicy:
    """What a provider's token must carry to speak for this workspace, and how it maps to a user."""

    public_id: str
    name: str
    issuer: str
    audiences: tuple[str, ...] = ()
    authorized_parties: tuple[str, ...] = ()
    id_claim: str = "sub"
    attr_claims: tuple[str, ...] = ()
    organizations_claim: str | None = None
    leeway: int = 60


@dataclass(frozen=True)
class JwkSet:
    """The usable keys of a JWKS (in its order) and the ignored ones as (name, reason)."""

    keys: tuple[VerificationKey, ...] = ()
    ignored: tuple[tuple[str, str], ...] = ()


def parse_jwks(document: bytes | str) -> JwkSet:
    """The keys of a JWKS document; ValueError (a sentence) when it is not one."""
    try:
        value = jose.strict_json(document.encode() if isinstance(document, str) else document)
    except ValueError:
        raise ValueError("The JWKS is not valid JSON.") from None
    if not isinstance(value, dict) or not isinstance(value.get("keys"), list):
        raise ValueError('The JWKS is not a JSON object with a "keys" list.')
    keys: list[VerificationKey] = []
    ignored: list[tuple[str, str]] = []
    for index, jwk in enumerate(value["keys"]):
        name = jwk.get("kid") if isinstance(jwk, dict) and isinstance(jwk.get("kid"), str) else f"key #{index + 1}"
        try:
            key = _accept(jwk, {k.kid for k in keys})
        except ValueError as why:
            ignored.append((name[:200], str(why)))
            continue
        if len(keys) >= MAX_KEYS:
            ignored.append((name[:200], f"More than {MAX_KEYS} usable keys: the rest are ignored."))
            continue
        keys.append(key)
    return JwkSet(tuple(keys), tuple(ignored))


def _accept(jwk: object, taken: set[str]) -> VerificationKey:
    """One JWK as a pinned verification key, or ValueError saying why it is ignored."""
    if not isinstance(jwk, dict):
        raise ValueError("Not a JSON object.")
    kty, kid = jwk.get("kty"), jwk.get("kid", "")
    if not isinstance(kid, str) or len(kid) > 255:
        raise ValueError("Its kid is not a string of at most 255 characters.")
    if kid in taken:
        raise ValueError("Another key of this JWKS has the same kid.")
    if any(part in jwk for part in _PRIVATE):
        raise ValueError("It carries private key material: a JWKS must publish public keys only "
                         "(tell your provider; this key is never used).")
    if jwk.get("use", "sig") != "sig":
        raise ValueError(f"Its use is {str(jwk.get('use'))[:20]!r}, not sig (an encryption key).")
    ops = jwk.get("key_ops")
    if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
        raise ValueError("Its key_ops do not include verify.")
    if kty not in _KTY_ALGS:
        raise ValueError(f"Key type {str(kty)[:20]!r} is not supported (RSA, EC P-256 and OKP Ed25519 are).")
    alg = jwk.get("alg", _KTY_ALGS[kty][0])
    if alg not in _KTY_ALGS[kty]:
        raise ValueError(f"Algorithm {str(alg)[:20]!r} is not supported for a {kty} key "
                         f"({', '.join(_KTY_ALGS[kty])} {'are' if len(_KTY_ALGS[kty]) > 1 else 'is'}).")
    return VerificationKey(kid=kid, alg=alg, key=_public_key(kty, jwk))


def _public_key(kty: str, jwk: dict) -> object:
    if kty == "RSA":
        key = rsa.RSAPublicNumbers(_int(jwk, "e"), _int(jwk, "n")).public_key()
        problem = rsa_problem(key)
        if problem is not None:
            raise ValueError(problem)
        return key
    if kty == "EC":
        if jwk.get("crv") != "P-256":
            raise ValueError(f"Curve {str(jwk.get('crv'))[:20]!r} is not supported: ES256 needs P-256.")
        x, y = _bytes(jwk, "x"), _bytes(jwk, "y")
        if len(x) != 32 or len(y) != 32:
            raise ValueError("Its x and y are not 32-byte P-256 coordinates.")
        try:
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)
        except ValueError:
            raise ValueError("Its x and y are not a point of P-256.") from None
    if jwk.get("crv") != "Ed25519":
        raise ValueError(f"Curve {str(jwk.get('crv'))[:20]!r} is not supported: EdDSA needs Ed25519.")
    x = _bytes(jwk, "x")
    if len(x) != 32:
        raise ValueError("Its x is not a 32-byte Ed25519 public key.")
    return ed25519.Ed25519PublicKey.from_public_bytes(x)


def _bytes(jwk: dict, name: str) -> bytes:
    value = jwk.get(name)
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise ValueError(f"Its {name} is missing or not base64url.")
    try:
        return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4))
    except (binascii.Error, ValueError):
        raise ValueError(f"Its {name} is not base64url.") from None


def _int(jwk: dict, name: str) -> int:
    return int.from_bytes(_bytes(jwk, name), "big")


def peek_issuer(token: object) -> str | None:
    """The `iss` of a token, read WITHOUT verification, only to choose which keys verify it;
    None when the token has none or cannot be read (then the normal path refuses it)."""
    try:
        claims = jose.decode_segment(jose.check_shape(token)[1], "payload")
    except TokenRefused:
        return None
    iss = claims.get("iss")
    return iss if isinstance(iss, str) else None


def verify_provider_token(token: object, *, keys: tuple[VerificationKey, ...] | list[VerificationKey],
                          provider: ProviderPolicy, now: float) -> VerifiedToken:
    """The verified token, its claims mapped to Signet's user fields (`map_claims`), or TokenRefused
    with the first failing check's contract code (the order of API.md §3's table)."""
    segments = jose.check_shape(token)
    header = jose.decode_header(segments)
    claims = _decode_claims(segments)
    alg = header.get("alg")
    if alg == "HS256":
        raise TokenRefused("token_algorithm_not_allowed",
                           f"Tokens of identity provider {provider.name} must be signed with a key of its JWKS, not HS256.")
    try:
        candidates = candidate_keys(header, keys)
    except TokenRefused as refused:
        if refused.code != "token_unknown_key":
            raise
        raise TokenRefused("token_unknown_key", f"No key of identity provider {provider.name}'s JWKS "
                           + ("has the token's kid." if "kid" in header else f"is a {alg} key.")) from None
    key = _verifying_key(token, candidates, too_many_without_kid(header, keys))
    exp = _check_times(claims, now, provider.leeway)
    check_audience(claims, provider)
    if claims.get("iss") != provider.issuer:
        raise TokenRefused("token_bad_issuer", "The token's iss is not this identity provider's issuer.")
    return VerifiedToken(header=header, claims=map_claims(claims, provider), alg=key.alg,
                         kid=provider_kid(provider.public_id, key.kid), jti=claims.get("jti"), exp=exp,
                         via="provider")


def provider_kid(public_id: str, kid: str) -> str:
    """How a provider key is named where Signet keeps a kid (64 characters at most)."""
    return f"{public_id}:{kid}"[:64]


def _decode_claims(segments: list[str]) -> dict:
    """The claims with §4's type rules (numeric dates, jti); `sub` is the provider's own."""
    claims = jose.decode_segment(segments[1], "payload")
    for name in jose.NUMERIC_DATE_CLAIMS:
        if name in claims:
            jose.numeric_date(claims[name], name)
    if "jti" in claims:
        jti = claims["jti"]
        if not isinstance(jti, str) or not 1 <= len(jti) <= jose.MAX_JTI_CHARS:
            raise jose.malformed(f"jti must be a string of 1 to {jose.MAX_JTI_CHARS} characters.")
    return claims


def check_audience(claims: dict, provider: ProviderPolicy) -> None:
    """`aud` (a string or list of strings) contains a configured audience, or `azp` equals a
    configured authorized party: a token made for another app of the same provider never passes.
    A present `azp` is checked even when `aud` matched (OIDC Core 3.1.3.7, items 4-5): it names
    the app the token was issued to, so it must be a configured authorized party when there are
    any, and a configured audience or authorized party when `aud` names several apps."""
    aud = claims.get("aud")
    audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
    if "azp" in claims:
        _check_azp(claims["azp"], audiences, provider)
    if any(isinstance(item, str) and item in provider.audiences for item in audiences):
        return
    azp = claims.get("azp")
    if isinstance(azp, str) and azp in provider.authorized_parties:
        return
    raise TokenRefused("token_bad_audience", f"The token was not made for this workspace: its aud (or azp) is not one "
                                             f"configured for identity provider {provider.name}.")


def _check_azp(azp: object, audiences: list, provider: ProviderPolicy) -> None:
    """The token's authorized party, when it names one, is one this workspace configured: one of
    the authorized parties when there are any, else (for a token of several audiences) one of
    the audiences. A token of one audience and a workspace without authorized parties keeps any
    azp (an app of the same client, e.g. Google's Android client for a web client id)."""
    if provider.authorized_parties or len(audiences) > 1:
        allowed = provider.authorized_parties or provider.audiences
        if not isinstance(azp, str) or azp not in allowed:
            raise TokenRefused("token_bad_audience", f"The token was issued to another app: its azp is not one "
                                                     f"configured for identity provider {provider.name}.")


def map_claims(claims: dict, provider: ProviderPolicy) -> dict:
    """The provider's claims as Signet's signed user fields (API.md §3 table), validated after by
    the same rules as any token: id from `id_claim`, email (unless email_verified is false), name,
    picture as avatarUrl when https, the selected claims as attrs, an optional organizations claim.
    `exp` and `jti` pass through for the §4 rules. `ctx` never does: a provider's claims may be
    edited by its users (profile or metadata fields at some providers), and `ctx` role admin
    widens what <signet-dashboard> shows, so a session scope needs the customer's own token."""
    mapped: dict = {key: claims[key] for key in ("exp", "jti") if key in claims}
    mapped["id"] = claims.get(provider.id_claim)
    if isinstance(claims.get("email"), str) and claims.get("email_verified") not in (False, "false"):
        mapped["email"] = claims["email"]
    if isinstance(claims.get("name"), str):
        mapped["name"] = claims["name"]
    picture = claims.get("picture")
    if isinstance(picture, str) and picture.startswith("https://"):
        mapped["avatarUrl"] = picture
    if provider.attr_claims:
        mapped["attrs"] = {name: _attr(claims[name]) for name in provider.attr_claims if name in claims}
    if provider.organizations_claim and provider.organizations_claim in claims:
        mapped["organizations"] = _organizations(claims[provider.organizations_claim])
    return mapped


def _attr(value: object) -> object:
    """A claim as an attrs value: scalars as they are, a list of scalars joined, anything else as JSON."""
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    if isinstance(value, list) and all(isinstance(item, (str, int, float)) for item in value):
        return ", ".join(str(item) for item in value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _organizations(value: object) -> object:
    """An org id (string), a list of org ids, or a list of §3 organization objects."""
    items = value if isinstance(value, list) else [value]
    return [{"id": item, "name": str(item)} if isinstance(item, (str, int)) and not isinstance(item, bool) else item
            for item in items]
