"""Verification of signed user data (API.md §4) with the contract's error codes (§3).

Checks run in the table's order and the first failure answers: token_malformed (shape, JSON,
header and claim types), token_algorithm_not_allowed, token_unknown_key, token_bad_signature,
token_missing_exp, token_expired, token_not_yet_valid, token_bad_audience, token_bad_issuer,
token_wrong_tenant. Replay is the caller's last step (it records the jti after field rules).

Keys come only from `keys` (the tenant's live secrets and public keys): `jwk`, `jku`, `x5u` and
`x5c` headers are never read. Each key verifies with its one pinned algorithm: PyJWT's Algorithm
object taken from a PyJWS configured for that algorithm alone, given a loaded key object (never a
PEM string), the signing input and the signature. These are the three calls PyJWS.decode_complete
ends with (prepare_key, check_key_length, verify); the parsing it does before them is the lenient
kind (padding accepted) that `jose` has already done strictly, and doing it twice cost a third of
a verification.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import jwt

from . import jose
from .errors import TokenRefused
from .keys import ALGORITHMS, MAX_TRIED_WITHOUT_KID, key_fits


def default_audience(tenant_public_id: str) -> str:
    """The audience a new workspace gets: its own, so a token made for one workspace never
    verifies in another that holds the same public key (workspaces made before keep
    ``signet-widget``)."""
    return f"signet:{tenant_public_id}"


@dataclass(frozen=True)
class VerificationKey:
    """A live key of the tenant: HS256 holds `hmac_key(secret)` bytes, the rest a public key.

    `in_grace`: replaced and still valid for its grace window (False: active). A tenant's keys
    are handed to the verifier newest first, which is how a token without kid picks its two.

    `prepared` is the key as its algorithm verifies with it, checked once when the key is made
    (type, curve and size, then PyJWT's own preparation and minimum length); None when it does
    not fit its algorithm, and then it verifies nothing. Keys are made once per process and
    key version (keyring's cache), so tokens pay only for the signature itself.
    """

    kid: str
    alg: str
    key: object
    in_grace: bool = False
    prepared: object = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        object.__setattr__(self, "prepared", _prepare(self.alg, self.key))


@dataclass(frozen=True)
class Policy:
    """The tenant's token settings."""

    tenant_id: str
    audience: str = "signet-widget"
    require_audience: bool = False
    issuer: str | None = None
    leeway: int = 60


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature and claims passed; `kid` names the key that verified it."""

    header: dict
    claims: dict
    alg: str
    kid: str
    jti: str | None
    exp: float
    via: str = "token"  # "provider": an identity provider's token, kid "<provider id>:<JWKS kid>"
    # Values derived from these claims alone (services memoise e.g. their user data here), shared
    # by every verification of the same token bytes in this process (RecentTokens); None: not kept.
    memo: dict | None = field(default=None, compare=False, repr=False)


class RecentTokens:
    """Tokens this process verified lately: their decoded header and claims and the key whose
    signature check passed, each kept `ttl` seconds, at most `size` of them (oldest dropped first).

    Only what is a pure function of the token's bytes and one key object is kept: the strict
    decoding and the signature check. Every other rule runs on each call as if the token were new
    (candidate keys from the live keys passed in, exp/nbf/iat against `now`, aud, iss, tid), and
    a kept signature counts only when the very key object that checked it is still the first
    candidate: keys are made once per keys_version, so a revoked or replaced key (a new version)
    or one past its grace window (no longer passed in) is never trusted from here. A token with
    a `jti` is one-time and never kept; nor is a refused one.
    """

    def __init__(self, size: int = 1024, ttl: float = 120.0):
        self.size, self.ttl = size, ttl
        self._entries: dict[str, tuple] = {}
        self._lock = threading.Lock()

    def get(self, token: object) -> tuple | None:
        """(header, claims, key, memo) of a token kept and not yet stale, else None."""
        entry = self._entries.get(token) if isinstance(token, str) else None
        if entry is None or entry[4] < time.monotonic():
            return None
        return entry

    def put(self, token: str, header: dict, claims: dict, key: "VerificationKey") -> dict:
        """Keep a token that passed every check; its memo (see VerifiedToken.memo)."""
        memo: dict = {}
        with self._lock:
            while len(self._entries) >= self.size:
                self._entries.pop(next(iter(self._entries)), None)
            self._entries[token] = (header, claims, key, memo, time.monotonic() + self.ttl)
        return memo

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


# One Algorithm per alg name, each from a PyJWS that knows only that algorithm.
_ALGORITHMS = {alg: jwt.PyJWS(algorithms=[alg]).get_algorithm_by_name(alg) for alg in ALGORITHMS}

EXPLANATIONS = {
    "token_malformed": "The token is not a well-formed JWT: send a compact JWS (three unpadded "
    "base64url parts, at most 8 KiB) whose header and claims are JSON objects, with numeric "
    "exp/nbf/iat, a jti of 1 to 255 characters, no crit header, and sub equal to id.",
    "token_algorithm_not_allowed": "Sign with HS256, EdDSA, ES256, PS256 or RS256, and with "
    "the algorithm of the key named by kid (the one chosen when it was added).",
    "token_unknown_key": "No live secret or key of this workspace matches: check the kid header "
    "and that the key for this algorithm was added and not revoked or past its grace window. "
    "A token without kid is tried only with the newest active and the newest in-grace key of its "
    "algorithm: with more live keys than that, put the key's kid in the header.",
    "token_bad_signature": "The signature does not verify: sign with the current secret (its "
    "UTF-8 text as shown, not base64-decoded) or the private key of the uploaded public key.",
    "token_missing_exp": "Add an exp claim (seconds since the epoch), a few minutes ahead.",
    "token_expired": "The token's exp has passed: mint a fresh token for each page load and "
    "check your server's clock.",
    "token_not_yet_valid": "nbf or iat is in the future: check your server's clock.",
    "token_bad_audience": "Set aud to this workspace's audience (or leave it out unless it is "
    "required).",
    "token_bad_issuer": "Set iss to the issuer this workspace pins.",
    "token_wrong_tenant": "tid names another workspace: use this workspace's tenant id, or "
    "leave tid out.",
    "token_replayed": "This jti was already used: mint a new token with a new jti each time.",
}


def explain(code: str) -> str:
    """A human sentence for a token error code: what to fix on the customer's backend."""
    return EXPLANATIONS.get(code, "The token was refused.")


def verify_token(
    token: object, *, keys: Sequence[VerificationKey], policy: Policy, now: float,
    recent: RecentTokens | None = None,
) -> VerifiedToken:
    """The verified token, or TokenRefused with the first failing check's contract code.
    `recent`: tokens verified lately, whose decoding and signature check are not redone."""
    seen = recent.get(token) if recent is not None else None
    if seen is None:
        segments = jose.check_shape(token)
        header = jose.decode_header(segments)
        claims = jose.decode_claims(segments)
    else:
        header, claims = seen[0], seen[1]
    candidates = candidate_keys(header, keys)
    if seen is not None and candidates[0] is seen[2]:
        key = seen[2]  # the first key tried is the very one whose check of these bytes passed
    else:
        key = _verifying_key(token, candidates, too_many_without_kid(header, keys))
    exp = _check_times(claims, now, policy.leeway)
    _check_audience(claims, policy)
    _check_issuer(claims, policy)
    if "tid" in claims and claims["tid"] != policy.tenant_id:
        raise TokenRefused("token_wrong_tenant", "The token's tid is not this workspace.")
    memo = None
    if recent is not None and "jti" not in claims:  # one-time tokens are never kept
        memo = seen[3] if seen is not None and seen[2] is key else recent.put(token, header, claims, key)
    return VerifiedToken(
        header=header, claims=claims, alg=key.alg, kid=key.kid, jti=claims.get("jti"), exp=exp, memo=memo
    )


def candidate_keys(header: dict, keys: Sequence[VerificationKey]) -> list[VerificationKey]:
    """The keys a token with this header is tried with; TokenRefused when there are none.

    With `kid`: the key with exactly that kid, which must be pinned to the header's alg
    (else token_algorithm_not_allowed). Without: the keys of the header's alg, at most two (see
    `tried_without_kid`), so a junk token costs at most two signature checks. No match:
    token_unknown_key. Messages never reveal which algorithm a kid is pinned to.
    """
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in ALGORITHMS:
        raise TokenRefused(
            "token_algorithm_not_allowed",
            "The token's alg is not one of " + ", ".join(ALGORITHMS) + ".",
        )
    if "kid" not in header:
        found = [key for key in keys if key.alg == alg]
        if not found:
            raise TokenRefused("token_unknown_key", f"No live {alg} key or secret in this workspace.")
        return tried_without_kid(found)
    kid = header["kid"]
    if not isinstance(kid, str):
        raise jose.malformed("The kid header must be a string.")
    named = [key for key in keys if key.kid == kid]
    if not named:
        raise TokenRefused("token_unknown_key", "No live key or secret has the token's kid.")
    found = [key for key in named if key.alg == alg]
    if not found:
        raise TokenRefused(
            "token_algorithm_not_allowed",
            "The token's alg is not the algorithm of the key its kid names.",
        )
    return found


def tried_without_kid(found: list[VerificationKey]) -> list[VerificationKey]:
    """The keys of one algorithm (newest first) a token without kid is tried with: all of them up
    to two, which covers a rotation (one active, one in grace, or two added side by side); beyond
    that the newest active one and the newest in-grace one (the two newest when every live key
    is in the same state)."""
    if len(found) <= MAX_TRIED_WITHOUT_KID:
        return found
    active = [key for key in found if not key.in_grace]
    in_grace = [key for key in found if key.in_grace]
    if active and in_grace:
        return [active[0], in_grace[0]]
    return found[:MAX_TRIED_WITHOUT_KID]


def too_many_without_kid(header: dict, keys: Sequence[VerificationKey]) -> int:
    """How many live keys of the token's algorithm it needed a kid for (0: it did not, either
    because it has a kid or because every key of its algorithm was tried)."""
    if "kid" in header:
        return 0
    count = sum(1 for key in keys if key.alg == header.get("alg"))
    return count if count > MAX_TRIED_WITHOUT_KID else 0


def inspect_token(token: object) -> dict:
    """Header and claims decoded WITHOUT verification, for the token debugger; never raises."""
    result: dict = {"header": None, "claims": None, "error": None}
    try:
        segments = jose.check_shape(token)
        result["header"] = jose.decode_segment(segments[0], "header")
        result["claims"] = jose.decode_segment(segments[1], "payload")
    except TokenRefused as err:
        result["error"] = err.message
    return result


def _verifying_key(token: str, candidates: list[VerificationKey], untried: int = 0) -> VerificationKey:
    """The first candidate whose signature check passes, else token_bad_signature; or
    token_unknown_key when `untried` (a token without kid, more live keys than were tried)."""
    signing_input, _, signature = token.rpartition(".")
    signed = signing_input.encode("ascii")  # check_shape let only base64url characters and dots through
    raw = jose.b64url_decode(signature, "signature")
    for key in candidates:
        if _signature_verifies(signed, raw, key):
            return key
    if untried:
        raise TokenRefused(
            "token_unknown_key",
            f"This workspace has more than {MAX_TRIED_WITHOUT_KID} live {candidates[0].alg} keys or "
            "secrets: a token without kid is tried with two of them only (the newest active and "
            "the newest in-grace one), and neither verifies it. Put the key's kid in the token's header.",
        )
    raise TokenRefused("token_bad_signature", "The token's signature does not verify.")


def _prepare(alg: str, key: object) -> object:
    """`key` as the one algorithm `alg` verifies with, or None when it does not fit that algorithm."""
    algorithm = _ALGORITHMS.get(alg)
    if algorithm is None or not key_fits(alg, key):
        return None  # e.g. an empty or short HMAC secret never verifies anything
    try:
        prepared = algorithm.prepare_key(key)
    except (jwt.InvalidKeyError, TypeError, ValueError):
        return None
    return None if algorithm.check_key_length(prepared) else prepared  # PyJWT's minimum, behind key_fits


def _signature_verifies(signing_input: bytes, signature: bytes, key: VerificationKey) -> bool:
    """The signature layer alone: whether `key`, with its one pinned algorithm, signed `signing_input`.
    A signature the crypto layer cannot even read verifies nothing."""
    if key.prepared is None:
        return False
    try:
        return bool(_ALGORITHMS[key.alg].verify(signing_input, key.prepared, signature))
    except (TypeError, ValueError):
        return False


def _check_times(claims: dict, now: float, leeway: int) -> float:
    """exp is required and not past; nbf and iat, when present, are not in the future."""
    if "exp" not in claims:
        raise TokenRefused("token_missing_exp", "The token has no exp claim.")
    exp = jose.numeric_date(claims["exp"], "exp")
    if exp <= now - leeway:
        raise TokenRefused("token_expired", "The token has expired.")
    for name in ("nbf", "iat"):
        if name in claims and jose.numeric_date(claims[name], name) > now + leeway:
            raise TokenRefused("token_not_yet_valid", f"The token's {name} is in the future.")
    return exp


def _check_audience(claims: dict, policy: Policy) -> None:
    """aud, a string or list of strings, must contain the tenant's audience when present."""
    if "aud" not in claims:
        if policy.require_audience:
            raise TokenRefused("token_bad_audience", "This workspace requires an aud claim.")
        return
    aud = claims["aud"]
    audiences = [aud] if isinstance(aud, str) else aud
    if (
        not isinstance(audiences, list)
        or not all(isinstance(item, str) for item in audiences)
        or policy.audience not in audiences
    ):
        raise TokenRefused("token_bad_audience", "The token's aud is not this workspace's audience.")


def _check_issuer(claims: dict, policy: Policy) -> None:
    """iss must equal the pinned issuer, when the tenant pins one."""
    if policy.issuer is not None and claims.get("iss") != policy.issuer:
        raise TokenRefused("token_bad_issuer", "The token's iss is not this workspace's issuer.")
