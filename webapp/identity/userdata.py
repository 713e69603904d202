"""User data (API.md §3, §4, §5) parsed into one normalized, immutable value.

Three payload forms reach the same `UserData`:
- unsigned `setUser({...})` bodies (`parse_unsigned`): unknown keys are `unknown_field`;
- verified token claims (`parse_claims`): user fields at the top level, or nested in `user`
  (where keys outside the field table become attrs); other claims are ignored;
- login-link codes (`parse_login_payload`): a `user` object as above, or login-only.

Checks run in a fixed order, so the same bad body always names the same field: unknown keys
first (in the order sent, unsigned data only), then the table's order (id, email, name,
avatarUrl, attrs, organizations), organizations item by item, each item id, name, attrs.
A field left out is `MISSING` (keep the stored value); `null` is None (clear it).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator, Literal, Mapping, TypeVar

from webapp.identity.errors import FieldRefused
from webapp.refusals import Unauthorized
from webapp.identity.fields import (
    INVALID, MISSING, UNKNOWN, USER_FIELDS,
    AttrValue, Missing, check_attr_count, check_attr_key, check_attr_value, check_attrs,
    check_avatar_url, check_email, check_id, check_name, check_unsigned_id, describe, invalid,
    is_safe_https_url, is_valid_email, key_path,
)
from webapp.identity.orgdata import OrgData, parse_orgs
from webapp.identity.unknown_keys import reject_unknown_keys

__all__ = [
    "MISSING", "Missing", "OrgData", "UserData", "LoginOnly", "Classified", "NoLoginTarget",
    "classify_body", "parse_unsigned", "parse_claims", "parse_login_payload",
    "is_valid_email", "is_safe_https_url",
]

Attrs = dict[str, AttrValue]
_T = TypeVar("_T")
BodyKind = Literal["anonymous", "unsigned", "jwt", "external_auth_code"]


@dataclass(frozen=True)
class UserData:
    """Identified or anonymous user data; each field is a value, None (clear) or MISSING (keep).

    `organizations` is the complete list when given: () removes every membership.
    """

    id: str | None
    email: str | None | Missing = MISSING
    name: str | None | Missing = MISSING
    avatar_url: str | None | Missing = MISSING
    attrs: Attrs | None | Missing = MISSING
    organizations: tuple[OrgData, ...] | Missing = MISSING

    @property
    def anonymous(self) -> bool:
        return self.id is None


@dataclass(frozen=True)
class LoginOnly:
    """A login-only code (§5): signs in an existing user, changes none of its fields.

    At least one of the two is set. When both are, the user is looked up by `id` only.
    """

    id: str | None
    email: str | None


class NoLoginTarget(Unauthorized):
    """A login-only code naming no user at all: §5 answers `unknown_user`."""


@dataclass(frozen=True)
class Classified:
    """What a set-user body is. Unpacks as `kind, payload = classify_body(body)`.

    payload: the token (any JSON value; the verifier refuses non-strings) for "jwt" and
    "external_auth_code", the body itself for "anonymous" and "unsigned" (for `parse_unsigned`).
    `stray_key` is a key sent beside a token; call `raise_for_stray()` after the token was
    verified, since §3 answers token errors (and login_links_disabled) before field errors.
    """

    kind: BodyKind
    payload: object
    stray_key: str | None = None
    token_key: str | None = None

    def __iter__(self) -> Iterator[object]:
        return iter((self.kind, self.payload))

    def raise_for_stray(self) -> None:
        if self.stray_key is not None:
            path = key_path("", self.stray_key)
            raise FieldRefused(
                UNKNOWN,
                f'{path}: unknown field; "{self.token_key}" must be sent alone'
                " (put user fields in the token's claims)",
                path,
            )


_TOKEN_KEYS: tuple[tuple[str, BodyKind], ...] = (("jwt", "jwt"),
                                                 ("externalAuthCode", "external_auth_code"))


def classify_body(body: dict) -> Classified:
    """Sort a set-user body (already known to be a JSON object) into its form; never raises.

    A body holding both `jwt` and `externalAuthCode` is a jwt with a stray key. `{}` is
    "unsigned" (parse_unsigned then asks for `id`); only an explicit `id: null` is anonymous.
    """
    for token_key, kind in _TOKEN_KEYS:
        if token_key in body:
            stray = next((k for k in body if k != token_key), None)
            return Classified(kind, body[token_key], stray, token_key if stray else None)
    if "id" in body and body["id"] is None:
        return Classified("anonymous", body)
    return Classified("unsigned", body)


def parse_unsigned(body: object) -> UserData:
    """`setUser({...})` data: every key must be in the table and `id` must be present, and not an id
    reserved for users Signet creates (`fields.RESERVED_ID_PREFIXES`)."""
    if not isinstance(body, dict):
        raise FieldRefused(INVALID, f"user data must be a JSON object; got {describe(body)}")
    reject_unknown_keys(body, USER_FIELDS, "")
    if "id" not in body:
        raise invalid("id", "missing; send the user's id, or null for an anonymous visitor")
    user_id = check_unsigned_id(body["id"], "id")
    return _user_fields(body, "", user_id, strict=True)


def parse_claims(claims: dict) -> UserData:
    """A verified token's claims as user data (§4). A token always names a user, never null.

    With a `user` object, every user field comes from it (top-level user fields are then
    ignored) and the top-level `sub` stands in for a missing `user.id`. Without one, the fields
    are read from the top level, `id` or else `sub`, and every other claim is ignored.
    Equality of `sub` and `id` is the verifier's check (token_malformed); here `id` is used.
    """
    if not isinstance(claims, dict):
        raise TypeError("claims must be a dict (the verifier checks they are a JSON object)")
    if "user" in claims:
        return _parse_nested(claims)
    user_id = _signed_id(claims, claims, "")
    return _user_fields(claims, "", user_id, strict=False)


def parse_ctx(claims: dict) -> dict:
    """A token's `ctx` (§4): an object kept on the session as sent; absent or null is {}."""
    ctx = claims.get("ctx")
    if ctx is None:
        return {}
    if not isinstance(ctx, dict):
        raise invalid("ctx", f"must be an object; got {describe(ctx)}")
    return ctx


def parse_login_payload(claims: dict) -> UserData | LoginOnly:
    """A verified login-link code (§5): user data with `user`, else login-only.

    Login-only reads `id` (or `sub`) and `email` and nothing else: such a code changes no field,
    so a `name` or `attrs` beside them is ignored. Each present key must be valid (null
    included: there is nothing to clear). With neither, `NoLoginTarget` (unknown_user).
    """
    if not isinstance(claims, dict):
        raise TypeError("claims must be a dict (the verifier checks they are a JSON object)")
    if "user" in claims:
        return _parse_nested(claims)
    user_id = None
    if "id" in claims:
        user_id = check_id(claims["id"], "id")
    elif "sub" in claims:
        user_id = check_id(claims["sub"], "sub")
    email = None
    if "email" in claims:
        if claims["email"] is None:
            raise invalid("email", "must be an email address to sign in with; got null")
        email = check_email(claims["email"], "email")
    if user_id is None and email is None:
        raise NoLoginTarget(
            "unknown_user", "this login link names no user: it needs a user object, an id (or sub)"
            " or an email")
    return LoginOnly(id=user_id, email=email)


def _parse_nested(claims: dict) -> UserData:
    """`{"user": {...}}`: keys outside the field table become attrs (explicit attrs win)."""
    user = claims["user"]
    if not isinstance(user, dict):
        raise invalid("user", f"must be an object of user fields; got {describe(user)}")
    user_id = _signed_id(user, claims, "user")
    extras = {k: v for k, v in user.items() if k not in USER_FIELDS}
    return _user_fields(user, "user", user_id, strict=False, extras=extras)


def _signed_id(source: Mapping[str, object], claims: Mapping[str, object], prefix: str) -> str:
    """The id of a token's user: `id` where the fields are, else the top-level `sub`."""
    if "id" in source:
        return _required_id(source["id"], key_path(prefix, "id"))
    if "sub" in claims:
        return _required_id(claims["sub"], "sub")
    raise invalid(
        key_path(prefix, "id"), "missing; a signed token must name its user (id or sub)"
    )


def _required_id(value: object, path: str) -> str:
    if value is None:
        raise invalid(path, "must name a user: a signed token cannot identify an anonymous visitor")
    return check_id(value, path)


def _user_fields(source: Mapping[str, object], prefix: str, user_id: str | None, *,
                 strict: bool, extras: Mapping[str, object] | None = None) -> UserData:
    """Every field after `id`, in the table's order; `strict` refuses unknown org keys."""
    def path(key: str) -> str:
        return key_path(prefix, key)

    def optional(key: str, check: Callable[[object, str], _T]) -> _T | Missing:
        return check(source[key], path(key)) if key in source else MISSING

    email = optional("email", check_email)
    name = optional("name", check_name)
    avatar_url = optional("avatarUrl", check_avatar_url)
    attrs = optional("attrs", check_attrs)
    if extras:
        attrs = _merge_extras(attrs, extras, prefix)
    organizations = (parse_orgs(source["organizations"], path("organizations"), strict=strict)
                     if "organizations" in source else MISSING)
    return UserData(id=user_id, email=email, name=name, avatar_url=avatar_url, attrs=attrs,
                    organizations=organizations)


def _merge_extras(attrs: Attrs | None | Missing, extras: Mapping[str, object],
                  prefix: str) -> Attrs:
    """Nested-user keys outside the table join attrs; an explicit `attrs` entry wins.

    The merged set is the complete attrs (it replaces the stored ones), at most 50 keys.
    Every extra is validated, even one an explicit entry overrides, at its own path (`user.plan`).
    """
    explicit: Attrs = attrs if isinstance(attrs, dict) else {}
    merged: Attrs = {}
    for key, value in extras.items():
        entry = key_path(prefix, key)
        merged[check_attr_key(key, entry)] = check_attr_value(value, entry)
    merged.update(explicit)
    check_attr_count(len(merged), key_path(prefix, "attrs"))
    return merged
