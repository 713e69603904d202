"""Small value rules shared by the dashboard forms and the CLI."""
from __future__ import annotations

from urllib.parse import urlsplit

from ...identity.userdata import is_valid_email
from ..errors import Invalid

MIN_PASSWORD = 10


def normalize_email(value: str) -> str:
    email = (value or "").strip().lower()
    if not is_valid_email(email):  # the one rule, shared with end users' emails
        raise Invalid("invalid_field", "Enter a valid email address.", "email")
    return email


def check_password(value: str) -> str:
    if len(value or "") < MIN_PASSWORD:
        raise Invalid("invalid_field", f"The password is too weak: use at least {MIN_PASSWORD} characters.", "password")
    if len(value) > 1024:
        raise Invalid("invalid_field", "The password is too long (1024 characters at most).", "password")
    if len(set(value)) < 4:
        raise Invalid("invalid_field", "The password is too weak: use more different characters.", "password")
    return value


def check_issuer(value, field: str = "issuer"):
    """An issuer (a tenant's pinned `iss`, an identity provider's or single sign-on's) has no query
    and no fragment: OpenID Connect issuers never carry one, and `iss` is compared exactly, so a
    `?x=1` or `#f` typed by mistake would refuse every token (or, as a discovery base, build a
    wrong URL)."""
    if isinstance(value, str) and ("?" in value or "#" in value):  # a non-string: the caller's own rule
        raise Invalid("invalid_field", f"{value[:200]} is not an issuer: an issuer has no query (?…) or fragment "
                      "(#…); give it exactly as your tokens' iss carries it, e.g. https://login.example.com.", field)
    return value


def normalize_origin(value: str) -> str:
    """An origin as browsers send it: scheme://host[:port], lower-case, default port dropped."""
    text = (value or "").strip()
    bad = Invalid(
        "invalid_field",
        f"'{text}' is not an origin: use scheme and host only, like https://app.example.com", "allowed_origins"
    )
    if not text or text.lower() == "null" or any(c.isspace() or not c.isprintable() for c in text):
        raise bad
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError:
        raise bad from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise bad
    if parts.username or parts.password or parts.query or parts.fragment or parts.path not in ("", "/"):
        raise bad
    if "*" in parts.hostname:
        raise Invalid("invalid_field", "Wildcard origins are not supported: list each origin.", "allowed_origins")
    scheme = parts.scheme.lower()
    try:
        host = parts.hostname.encode("idna").decode("ascii").lower()
    except UnicodeError:
        raise bad from None
    if ":" in host:
        host = f"[{host}]"
    default = {"http": 80, "https": 443}[scheme]
    return f"{scheme}://{host}" + (f":{port}" if port and port != default else "")
