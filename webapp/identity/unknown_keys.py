"""Unknown keys in unsigned data (API.md §3): the first key outside the field table is
`unknown_field`, and the message suggests the field a misspelled or aliased key most likely meant."""
from __future__ import annotations

import difflib
import re
from typing import Final, Mapping

from webapp.identity.errors import FieldRefused
from webapp.identity.fields import UNKNOWN, USER_FIELDS, key_path


def _norm(key: str) -> str:
    return re.sub(r"[\s_.-]", "", key).lower()


_ATTRS_ALIASES: Final = ("attributes", "customattributes", "traits", "metadata", "properties",
                         "customdata", "customfields")
_USER_ALIASES: Final[Mapping[str, str]] = {
    **{a: "avatarUrl" for a in ("avatar", "picture", "photo", "photourl", "image", "imageurl")},
    **{a: "id" for a in ("userid", "externalid", "uid", "sub", "externaluserid")},
    **{a: "email" for a in ("mail", "emailaddress", "useremail")},
    **{a: "name" for a in ("fullname", "displayname")},
    **{a: "attrs" for a in _ATTRS_ALIASES},
    **{a: "organizations" for a in ("orgs", "org", "companies", "company", "organisations",
                                    "organisation", "organization")},
}
_ORG_ALIASES: Final[Mapping[str, str]] = {
    **{a: "id" for a in ("orgid", "organizationid", "organisationid", "companyid", "externalid",
                         "uid")},
    **{a: "name" for a in ("orgname", "organizationname", "organisationname", "companyname",
                           "displayname", "fullname")},
    **{a: "attrs" for a in _ATTRS_ALIASES},
}


def suggest_field(key: str, allowed: tuple[str, ...]) -> str | None:
    """The field a misspelled key most likely meant: aliases first, then a close spelling."""
    aliases = _USER_ALIASES if allowed == USER_FIELDS else _ORG_ALIASES
    normalized = _norm(key)
    by_norm = {_norm(name): name for name in allowed}
    if normalized in by_norm:
        return by_norm[normalized]
    if normalized in aliases:
        return aliases[normalized]
    close = difflib.get_close_matches(normalized, list(by_norm), n=1, cutoff=0.7)
    return by_norm[close[0]] if close else None


def reject_unknown_keys(
    source: Mapping[object, object], allowed: tuple[str, ...], parent: str
) -> None:
    """Unsigned data: the first key (in the order sent) outside `allowed` is `unknown_field`."""
    for key in source:
        if key in allowed:
            continue
        path = key_path(parent, key)
        guess = suggest_field(key, allowed) if isinstance(key, str) else None
        if guess is not None:
            hint = f'did you mean "{guess}"?'
        else:
            hint = f"the fields are {', '.join(allowed)}" + (
                " (put custom data in attrs)" if "attrs" in allowed else "")
        raise FieldRefused(UNKNOWN, f"{path}: unknown field; {hint}", path)
