"""Compact JWS shape and strict decoding, done before any cryptography.

SECURITY-NOTES: size cap, then the three-segment unpadded base64url pattern, then strict UTF-8
JSON objects. PyJWT sets no size limit, accepts `=` padding and parses JSON leniently (duplicate
keys, NaN), so the verifier runs these checks itself and only then hands the token to PyJWT.
Every refusal here is `token_malformed`.
"""
from __future__ import annotations

import base64
import binascii
import json
import math
import re

from .errors import TokenRefused

MAX_TOKEN_BYTES = 8192
MAX_NUMERIC_DATE = 253402300799  # 9999-12-31T23:59:59Z
MAX_JTI_CHARS = 255
NUMERIC_DATE_CLAIMS = ("exp", "nbf", "iat")

_COMPACT_JWS = re.compile(r"[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")


def malformed(message: str) -> TokenRefused:
    """A `token_malformed` refusal with a message for the customer's developers."""
    return TokenRefused("token_malformed", message)


def check_shape(token: object) -> list[str]:
    """The three segments of a token that has the compact JWS shape, else token_malformed."""
    if not isinstance(token, str):
        raise malformed("The token must be a string.")
    # Only ASCII passes the pattern below, so characters and bytes count the same.
    if len(token) > MAX_TOKEN_BYTES:
        raise malformed(f"The token is larger than {MAX_TOKEN_BYTES} bytes.")
    if _COMPACT_JWS.fullmatch(token) is None:
        raise malformed(
            "The token is not a compact JWS: three base64url segments separated by dots, "
            "without padding."
        )
    return token.split(".")


def b64url_decode(segment: str, what: str) -> bytes:
    """Strict unpadded base64url: the canonical encoding of its bytes, nothing else."""
    if len(segment) % 4 == 1:
        raise malformed(f"The {what} segment is not valid base64url.")
    try:
        data = base64.b64decode(segment + "=" * (-len(segment) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise malformed(f"The {what} segment is not valid base64url.") from None
    if base64.urlsafe_b64encode(data).decode("ascii").rstrip("=") != segment:
        raise malformed(f"The {what} segment is not canonical base64url.")
    return data


def strict_json(data: bytes) -> object:
    """JSON from strict UTF-8: no duplicate keys, no NaN/Infinity, no lone surrogates; else
    ValueError (UnicodeError is one). Used for tokens and for the widget API's bodies alike."""
    try:
        text = data.decode("utf-8")
        value = _STRICT_DECODER.decode(text)
        # Lone surrogates are not Unicode text; they fail to encode. Valid UTF-8 has none, so
        # only a \\u escape can make one.
        if "\\u" in text:
            json.dumps(value, ensure_ascii=False).encode("utf-8")
    except RecursionError:
        raise ValueError("nested too deeply") from None
    return value


def parse_json_object(data: bytes, what: str) -> dict:
    """A JSON object from strict UTF-8 (strict_json)."""
    try:
        value = strict_json(data)
    except ValueError:
        raise malformed(f"The {what} is not valid UTF-8 JSON.") from None
    if not isinstance(value, dict):
        raise malformed(f"The {what} must be a JSON object.")
    return value


def decode_segment(segment: str, what: str) -> dict:
    """The JSON object carried by one base64url segment."""
    return parse_json_object(b64url_decode(segment, what), what)


def decode_header(segments: list[str]) -> dict:
    """The JOSE header of a shape-checked token, with the header rules that make it malformed."""
    header = decode_segment(segments[0], "header")
    if "crit" in header:
        raise malformed("The token has a crit header; no critical extension is supported.")
    if "kid" in header and not isinstance(header["kid"], str):
        raise malformed("The kid header must be a string.")
    if header.get("b64", True) is not True:
        raise malformed("Unencoded payloads (b64: false) are not supported.")
    return header


def decode_claims(segments: list[str]) -> dict:
    """The claims of a shape-checked token, with the claim rules that make it malformed."""
    claims = decode_segment(segments[1], "payload")
    for name in NUMERIC_DATE_CLAIMS:
        if name in claims:
            numeric_date(claims[name], name)
    if "jti" in claims:
        jti = claims["jti"]
        if not isinstance(jti, str) or not 1 <= len(jti) <= MAX_JTI_CHARS:
            raise malformed(f"jti must be a string of 1 to {MAX_JTI_CHARS} characters.")
    _check_subject(claims)
    return claims


def numeric_date(value: object, name: str) -> float:
    """A finite number of seconds in 0..253402300799; booleans and numeric strings refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise malformed(f"{name} must be a number of seconds since the epoch.")
    # The range first: an integer too large for a float (10**400) makes isfinite raise.
    if not 0 <= value <= MAX_NUMERIC_DATE or not math.isfinite(value):
        raise malformed(f"{name} must be between 0 and {MAX_NUMERIC_DATE} (year 9999).")
    return float(value)


def normalize_id(value: object) -> str | None:
    """An id as text (123 and "123" are the same user); None for a value that is not an id."""
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


def _check_subject(claims: dict) -> None:
    """`sub` is a string or integer, and equals every `id` given beside it (top or `user`)."""
    if "sub" not in claims:
        return
    sub = normalize_id(claims["sub"])
    if sub is None:
        raise malformed("sub must be a string or an integer.")
    ids = [claims["id"]] if "id" in claims else []
    user = claims.get("user")
    if isinstance(user, dict) and "id" in user:
        ids.append(user["id"])
    for user_id in ids:
        if normalize_id(user_id) != sub:
            raise malformed("sub and id are both present and differ.")


def _no_duplicates(pairs: list[tuple[str, object]]) -> dict:
    result = dict(pairs)
    if len(result) != len(pairs):  # a key came twice
        raise ValueError("duplicate key")
    return result


def _no_constant(name: str) -> object:
    raise ValueError("NaN and Infinity are not JSON")


# One decoder for every strict_json call (json.loads with options builds a new one each time).
_STRICT_DECODER = json.JSONDecoder(object_pairs_hook=_no_duplicates, parse_constant=_no_constant)
