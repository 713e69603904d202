"""The field rules of API.md §3, one value at a time.

Every checker takes the value and the path it was found at (`organizations[3].name`), returns
the normalized value and raises `FieldRefused` with that path when a rule is broken. Messages are
for the people integrating Signet: they start with the path, say what is allowed and what was
sent. `userdata.py` puts the checkers together into the payload forms of §3, §4 and §5.
"""
from __future__ import annotations

import enum
import json
import math
import re
import unicodedata
from typing import Final, Literal, Union
from urllib.parse import urlsplit

from webapp.identity.errors import FieldRefused


class _Missing(enum.Enum):
    """A key left out, as opposed to `null`: left out keeps the stored value, null clears it."""

    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
Missing = Literal[_Missing.MISSING]

AttrValue = Union[str, int, float, bool, None]

INVALID: Final = "invalid_field"
UNKNOWN: Final = "unknown_field"

MAX_ID_CHARS: Final = 255
MAX_EMAIL_CHARS: Final = 254
MAX_NAME_CHARS: Final = 255
MAX_URL_CHARS: Final = 2048
MAX_ATTRS: Final = 50
MAX_ATTR_KEY_CHARS: Final = 64
MAX_ATTR_VALUE_CHARS: Final = 1024
MAX_ORGANIZATIONS: Final = 10

USER_FIELDS: Final = ("id", "email", "name", "avatarUrl", "attrs", "organizations")
ORG_FIELDS: Final = ("id", "name", "attrs")

# The WHATWG HTML "valid e-mail address" production, used with fullmatch (a `$` would let a
# trailing newline through).
_EMAIL_RE: Final = re.compile(
    r"[a-zA-Z0-9.!#$%&'*+/=?^_`{|}~-]+"
    r"@[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*"
)
# Characters no URL may hold raw. A backslash is read as "/" by browsers but not by urlsplit,
# so `https://evil.example\@good.example` would name two different hosts.
_URL_FORBIDDEN: Final = frozenset('\\<>"`')
_SIMPLE_KEY: Final = re.compile(r"[A-Za-z_$][A-Za-z0-9_$-]*")
# The id in decimal must fit 255 characters; 900 bits bounds it without building a huge string.
_MAX_ID_BITS: Final = 900


# --- reusable predicates -------------------------------------------------------------------

def is_valid_email(value: object) -> bool:
    """True for an address the HTML `input type=email` accepts, of at most 254 characters."""
    return (
        isinstance(value, str)
        and len(value) <= MAX_EMAIL_CHARS
        and _EMAIL_RE.fullmatch(value) is not None
    )


def is_safe_https_url(value: object) -> bool:
    """True for an absolute https URL with a host that is safe to put in `src` or `href`.

    Refused: any other scheme (`javascript:`, `data:`, `http:`), scheme-relative `//host`,
    no host, credentials in the URL (`https://good@evil`), whitespace, control and format
    characters (bidi overrides), a backslash, and an invalid port.
    """
    if not isinstance(value, str) or not 0 < len(value) <= MAX_URL_CHARS:
        return False
    if any(_is_unsafe_url_char(ch) for ch in value):
        return False
    if value[:8].lower() != "https://":
        return False
    try:
        parts = urlsplit(value)
        hostname = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a non-numeric or out-of-range port
    except ValueError:
        return False
    return parts.scheme.lower() == "https" and bool(hostname) and "@" not in parts.netloc


def _is_unsafe_url_char(ch: str) -> bool:
    return ch.isspace() or ch in _URL_FORBIDDEN or unicodedata.category(ch) in ("Cc", "Cf")


# --- paths and messages --------------------------------------------------------------------

def key_path(parent: str, key: object) -> str:
    """`parent.key`, or `parent["odd key"]` when the key is not identifier-like."""
    if isinstance(key, str) and _SIMPLE_KEY.fullmatch(key):
        return f"{parent}.{key}" if parent else key
    text = key if isinstance(key, str) else str(key)
    return f"{parent}[{json.dumps(text, ensure_ascii=False)}]"


def describe(value: object) -> str:
    """The JSON type of a value, as the message's "got …" part."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return f"a string of {len(value)} characters"
    if isinstance(value, (list, tuple)):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def invalid(path: str, problem: str) -> FieldRefused:
    return FieldRefused(INVALID, f"{path}: {problem}", path)


def _check_string(value: str, path: str) -> str:
    if "\x00" in value:
        raise invalid(path, "must not contain the character U+0000")
    return value


# --- one checker per row of the field table ------------------------------------------------

_ID_RULE: Final = f"must be a string of 1 to {MAX_ID_CHARS} characters or an integer"


def check_id(value: object, path: str) -> str:
    """An external id normalized to a string (`123` and `"123"` are the same user).

    Booleans are refused although Python counts them as ints, and so are floats, even `1.0`:
    a JSON id written with a decimal point is a bug on the sender's side.
    """
    return _check_id(value, path, "")


def check_nullable_id(value: object, path: str) -> str | None:
    """As `check_id`, where null means an anonymous visitor (unsigned data only)."""
    if value is None:
        return None
    return _check_id(value, path, " (or null for an anonymous visitor)")


# Ids Signet makes itself (email sign-in's `email:<address>`, `email-sha256:<hex>` when that is too
# long, and `signet:` for any later kind). Unsigned data can never name them, so nobody claims the
# account email sign-in makes for someone else's address; signed data (a token, a login link) may.
RESERVED_ID_PREFIXES: Final = ("email:", "email-sha256:", "signet:")


def is_reserved_id(external_id: str) -> bool:
    """True for an id in the namespace of users Signet creates (exact, case-sensitive prefixes)."""
    return external_id.startswith(RESERVED_ID_PREFIXES)


def check_unsigned_id(value: object, path: str) -> str | None:
    """As `check_nullable_id`, refusing the ids reserved for users Signet creates."""
    user_id = check_nullable_id(value, path)
    if user_id is not None and is_reserved_id(user_id):
        prefixes = ", ".join(f'"{p}"' for p in RESERVED_ID_PREFIXES)
        raise invalid(path, f"ids beginning with {prefixes} are reserved for users Signet creates"
                            " (email sign-in); only signed data may name them")
    return user_id


def _check_id(value: object, path: str, hint: str) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        if value.bit_length() <= _MAX_ID_BITS and len(str(value)) <= MAX_ID_CHARS:
            return str(value)
        raise invalid(path, f"{_ID_RULE}; this integer has more than {MAX_ID_CHARS} digits")
    if isinstance(value, str) and 1 <= len(value) <= MAX_ID_CHARS:
        return _check_string(value, path)
    raise invalid(path, f"{_ID_RULE}{hint}; got {describe(value)}")


def check_email(value: object, path: str) -> str | None:
    """An email kept exactly as sent (no case folding); None clears the stored one."""
    if value is None:
        return None
    if isinstance(value, str):
        _check_string(value, path)
        if len(value) > MAX_EMAIL_CHARS:
            raise invalid(path, f"must be at most {MAX_EMAIL_CHARS} characters (got {len(value)})")
        if is_valid_email(value):
            return value
        raise invalid(path, "must be a valid email address, such as jane@example.com")
    raise invalid(path, f"must be an email address as a string, or null; got {describe(value)}")


def check_name(value: object, path: str) -> str | None:
    """A display name; the empty string is a valid string and is kept as sent."""
    if value is None:
        return None
    if isinstance(value, str) and len(value) <= MAX_NAME_CHARS:
        return _check_string(value, path)
    raise invalid(
        path,
        f"must be a string of at most {MAX_NAME_CHARS} characters, or null; got {describe(value)}",
    )


def check_avatar_url(value: object, path: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        _check_string(value, path)
        if len(value) > MAX_URL_CHARS:
            raise invalid(path, f"must be at most {MAX_URL_CHARS} characters (got {len(value)})")
        if is_safe_https_url(value):
            return value
    raise invalid(
        path, "must be an absolute https:// URL with a host, such as https://example.com/a.jpg"
        f" (no spaces, no credentials), or null; got {_describe_url(value)}"
    )


def _describe_url(value: object) -> str:
    if isinstance(value, str) and len(value) <= 60:
        return json.dumps(value, ensure_ascii=False)
    return describe(value)


def check_attrs(value: object, path: str) -> dict[str, AttrValue] | None:
    """A complete attrs object (it replaces the stored one); None clears it."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise invalid(path, f"must be an object of attributes, or null; got {describe(value)}")
    check_attr_count(len(value), path)
    return {check_attr_key(k, key_path(path, k)): check_attr_value(v, key_path(path, k))
            for k, v in value.items()}


def same_attrs(a: dict, b: dict) -> bool:
    """Equal as JSON: `true` is not `1` and `1.0` is not `1`, though Python's == says they are."""
    return a.keys() == b.keys() and all(type(a[k]) is type(b[k]) and a[k] == b[k] for k in a)


def check_attr_count(count: int, path: str) -> None:
    if count > MAX_ATTRS:
        raise invalid(path, f"at most {MAX_ATTRS} keys (got {count})")


def check_attr_key(key: object, path: str) -> str:
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_ATTR_KEY_CHARS:
        length = f"{len(key)} characters" if isinstance(key, str) else describe(key)
        raise invalid(
            path, f"an attribute name must be 1 to {MAX_ATTR_KEY_CHARS} characters (got {length})"
        )
    return _check_string(key, path)


def check_attr_value(value: object, path: str) -> AttrValue:
    """A scalar: nested objects and arrays are refused so attributes stay filterable."""
    if value is None or isinstance(value, (bool, int)):
        return value
    if isinstance(value, float):
        if math.isfinite(value):
            return value
        raise invalid(path, "must be a finite number (NaN and Infinity are not allowed)")
    if isinstance(value, str):
        if len(value) > MAX_ATTR_VALUE_CHARS:
            raise invalid(
                path, f"must be at most {MAX_ATTR_VALUE_CHARS} characters (got {len(value)})"
            )
        return _check_string(value, path)
    raise invalid(
        path, f"must be a string, number, boolean or null; got {describe(value)}"
        " (nested objects and arrays are not allowed)"
    )
