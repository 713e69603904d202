"""The Users CSV export: one header row, then a row per user, streamed as it is read.

Cells a spreadsheet would run as a formula (starting with = + - @, or a tab or carriage return
that some programs skip before looking) get a leading single quote (OWASP's CSV injection advice).
"""
from __future__ import annotations

import csv
import io
import json
from typing import Iterable, Iterator

from ...services.messaging.conversations import iso
from .details import how_verified

HEADER = ["user_id", "email", "name", "status", "verified_how", "created_via", "first_seen_at", "last_seen_at",
          "organizations", "attrs"]
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ROWS_PER_CHUNK = 200


def neutralize(value: object) -> str:
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def row(user, organizations: list[tuple[str, str]]) -> list[str]:
    """One user (a row with EndUser's column names) and their organizations (name, id)."""
    state, how = how_verified(user)
    orgs = "; ".join(f"{name} ({external_id})" for name, external_id in organizations)
    cells = [user.external_id, user.email, user.name, state, how if state == "verified" else "", user.created_via,
             iso(user.first_seen_at), iso(user.last_seen_at), orgs,
             json.dumps(user.attrs or {}, ensure_ascii=False, separators=(",", ":"))]
    return [neutralize(c) for c in cells]


def lines(users: Iterable[tuple]) -> Iterator[str]:
    """CSV text in chunks of a few hundred rows: small writes, bounded memory."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADER)
    for count, (user, organizations) in enumerate(users, 1):
        writer.writerow(row(user, organizations))
        if count % ROWS_PER_CHUNK == 0:
            yield buffer.getvalue()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue()
