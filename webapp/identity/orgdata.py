"""Organizations in user data (API.md §3): each membership parsed, the list deduplicated by id."""
from __future__ import annotations

from dataclasses import dataclass, field

from webapp.identity.fields import (MAX_NAME_CHARS, MAX_ORGANIZATIONS, MISSING, ORG_FIELDS, AttrValue, Missing,
                                    check_attrs, check_id, check_name, describe, invalid)
from webapp.identity.unknown_keys import reject_unknown_keys

Attrs = dict[str, AttrValue]


@dataclass(frozen=True)
class OrgData:
    """One membership. `attrs` left out keeps the organization's stored attrs; null gives {}.

    `path`: where it was sent (`organizations[3]`, the last occurrence of its id), for refusals.
    """

    id: str
    name: str
    attrs: Attrs | Missing = MISSING
    path: str = field(default="organizations[0]", compare=False)


def parse_orgs(value: object, path: str, *, strict: bool) -> tuple[OrgData, ...]:
    """The complete membership list, deduplicated by id.

    The last occurrence of an id wins and takes its place in the order, as if the earlier
    duplicates had not been sent. The limit of 10 applies after deduplication.
    """
    if value is None:
        return ()
    if not isinstance(value, (list, tuple)):
        raise invalid(path, f"must be an array of organizations, or null; got {describe(value)}")
    by_id: dict[str, OrgData] = {}
    for index, item in enumerate(value):
        org = parse_org(item, f"{path}[{index}]", strict=strict)
        by_id.pop(org.id, None)
        by_id[org.id] = org
    if len(by_id) > MAX_ORGANIZATIONS:
        raise invalid(path, f"at most {MAX_ORGANIZATIONS} organizations after removing"
                            f" duplicates (got {len(by_id)})")
    return tuple(by_id.values())


def parse_org(item: object, path: str, *, strict: bool) -> OrgData:
    """One organization object (id, name, optional attrs): a membership in user data at `path`
    (`organizations[3]`), or, with path "", the server API's organization body itself."""
    at = (lambda key: f"{path}.{key}") if path else (lambda key: key)
    if not isinstance(item, dict):
        raise invalid(
            path or "body", f"must be an object with id, name and optional attrs; got {describe(item)}"
        )
    if strict:
        reject_unknown_keys(item, ORG_FIELDS, path)
    if "id" not in item:
        raise invalid(at("id"), "missing; an organization needs an id (string or integer)")
    org_id = check_id(item["id"], at("id"))
    name = item.get("name")
    if not isinstance(name, str) or not 1 <= len(name) <= MAX_NAME_CHARS:
        got = describe(name) if "name" in item else "no name"
        raise invalid(at("name"), f"must be a string of 1 to {MAX_NAME_CHARS} characters"
                                  f" (required); got {got}")
    check_name(name, at("name"))  # the U+0000 rule
    attrs: Attrs | Missing = MISSING
    if "attrs" in item:
        attrs = check_attrs(item["attrs"], at("attrs")) or {}
    return OrgData(id=org_id, name=name, attrs=attrs, path=path)
