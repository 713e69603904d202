"""Opaque cursors of the server API's lists: keyset pagination on the row id.

A page is read as `WHERE id > :after ORDER BY id` (or `<` for newest-first lists), so a row
inserted while a client pages through a list never shifts what the next page holds: nothing is
returned twice and nothing that existed at the start is skipped. The cursor is the last row's id,
base64url-encoded with a version tag; clients treat it as opaque. Anything else (too long, not
base64, another shape, out of range) is `400 invalid_field` on `cursor`, never a 500.
"""
from __future__ import annotations

import base64
import binascii

from ..refusals import Invalid

MAX_CURSOR = 64
MAX_ID = 2**31  # the listed tables' id columns are 32-bit Integer: PostgreSQL refuses a larger bound
DEFAULT_LIMIT = 50
MAX_LIMIT = 100


def encode(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"v1:{last_id}".encode()).decode().rstrip("=")


def decode(cursor: str | None) -> int | None:
    """The id a cursor continues after; None for the first page."""
    if cursor is None or cursor == "":
        return None
    bad = Invalid("invalid_field", "cursor: not a cursor this API returned (use the `next` value as it is)", "cursor")
    if len(cursor) > MAX_CURSOR or not cursor.isascii():
        raise bad
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise bad from None
    tag, _, number = text.partition(":")
    if tag != "v1" or not number.isdigit() or not 0 <= int(number) < MAX_ID:
        raise bad
    return int(number)


def limit(raw: str | None) -> int:
    """`?limit=`: 1 to MAX_LIMIT rows a page (DEFAULT_LIMIT when absent)."""
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise Invalid("invalid_field", f"limit: a whole number from 1 to {MAX_LIMIT}", "limit")
    return int(raw)


def page(rows: list, size: int, key=lambda row: row.id) -> dict:
    """`{"data": rows[:size], "next": cursor|null}` from `size + 1` rows read (the extra one says
    whether a next page exists, without a count)."""
    more = len(rows) > size
    rows = rows[:size]
    return {"data": rows, "next": encode(key(rows[-1])) if more and rows else None}
