"""Keyset pagination for dashboard lists: opaque cursors, and `?page=N` without a deep row scan.

A list is ordered by a few columns whose last one is unique (the row id), all in one direction.
`?after=` / `?before=` cursors carry the boundary row's values, so the next page is an index range
read from where the last one stopped, however deep. `?page=N` skips over row ids only (on SQLite
a covering index scan) and then reads the page's rows by id (a "deferred join").
"""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Sequence

from flask import abort
from sqlalchemy import Select, and_, or_

from ..extensions import db

PAGE_SIZE = 50
MAX_PAGE = 1_000_000


@dataclass(frozen=True)
class Order:
    """The sort of a list: its key columns (the last one unique) and one direction for all."""

    columns: tuple
    descending: bool
    key: Callable[[Any], tuple]  # the key values of one result row, in column order
    kinds: tuple  # the Python type of each key value, to refuse a forged cursor with a 400

    def clauses(self, reverse: bool = False) -> list:
        down = self.descending != reverse
        return [c.desc() if down else c.asc() for c in self.columns]


@dataclass
class Page:
    items: list
    number: int | None
    next_cursor: str | None
    prev_cursor: str | None


@dataclass(frozen=True)
class Position:
    """Where a request asks to start: a cursor (after / before a row) or a page number."""

    after: tuple | None = None
    before: tuple | None = None
    page: int = 1  # the page number this position lands on, for display

    @classmethod
    def from_args(cls, args) -> Position:
        """`?after=`, `?before=` or `?page=`; a malformed one is a 400, never a silent page 1."""
        for name in ("after", "before"):
            if args.get(name):
                values, number = decode(args[name])
                return cls(**{name: values}, page=number)
        raw = args.get("page", "1")
        if not (raw.isascii() and raw.isdigit()) or not 1 <= int(raw) <= MAX_PAGE:  # "²".isdigit() is true
            abort(400, "page must be a whole number from 1.")
        return cls(page=int(raw))


def encode(values: Sequence, number: int) -> str:
    plain = [{"t": v.isoformat()} if isinstance(v, datetime) else v for v in values]
    raw = json.dumps({"k": plain, "p": number}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


MAX_CURSOR = 8192  # real ones are shorter: an organization name of 255 astral characters, escaped, ~4 100


def decode(cursor: str) -> tuple[tuple, int]:
    """A cursor's key values and page number; anything else, however hostile, is a 400."""
    if len(cursor) > MAX_CURSOR:  # nothing long (or deeply nested) reaches the JSON parser
        abort(400, "This page link is damaged: go back to the first page.")
    try:
        data = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        values = tuple(datetime.fromisoformat(v["t"]) if isinstance(v, dict) else v for v in data["k"])
        number = int(data["p"])
        if any(isinstance(v, datetime) and v.tzinfo is None for v in values):
            raise ValueError("naive time")
    except (binascii.Error, ValueError, KeyError, TypeError, AttributeError, UnicodeDecodeError, OverflowError,
            RecursionError):
        abort(400, "This page link is damaged: go back to the first page.")
    if not values or not all(_storable(v) for v in values):
        abort(400, "This page link is damaged: go back to the first page.")
    return values, max(1, min(number, MAX_PAGE))


def _storable(value: object) -> bool:
    """A key value a column can hold: text without U+0000, a 64-bit integer, an aware time."""
    if isinstance(value, str):
        return "\x00" not in value
    if isinstance(value, int):
        return -2**63 <= value < 2**63
    return isinstance(value, datetime)


def _beyond(order: Order, values: tuple, reverse: bool):
    """Rows strictly past `values` in the list's order (before them when `reverse`).

    Written as `c0 <= v0 AND (c0 < v0 OR (c0 = v0 AND c1 < v1) …)` rather than a row-value
    comparison: the leading range is what both SQLite and PostgreSQL turn into an index range.
    """
    if len(values) != len(order.columns) or not all(
            isinstance(v, kind) and not isinstance(v, bool) for v, kind in zip(values, order.kinds)):
        abort(400, "This page link is damaged: go back to the first page.")
    down = order.descending != reverse
    past = (lambda c, v: c < v) if down else (lambda c, v: c > v)
    reach = (lambda c, v: c <= v) if down else (lambda c, v: c >= v)
    terms = []
    for i, (column, value) in enumerate(zip(order.columns, values)):
        equal = [c == v for c, v in zip(order.columns[:i], values[:i])]
        terms.append(and_(*equal, past(column, value)))
    return and_(reach(order.columns[0], values[0]), or_(*terms))


@dataclass(frozen=True)
class Window:
    """A first, cheap attempt for a list whose matches are common: look only at the first WINDOW
    entries of the list's own order (an index range) and test `filtered`'s conditions on them.
    When that yields a full page, it is the right page; otherwise the full statement runs."""

    base: Select  # the unfiltered, tenant-scoped list: its order is an index
    filtered: Select  # the base with cheap per-row conditions that select exactly the list's rows


WINDOW = 2000


def fetch(stmt: Select, order: Order, where: Position, id_column, *, size: int | None = None,
          scalars: bool = True, window: Window | None = None, rows: Select | None = None) -> Page:
    """One page of `stmt` (already filtered and tenant-scoped) at `where`.

    Ids first, rows second: sorting or skipping touches only ids and sort keys, and the page's
    rows are then read by primary key through `rows` (default: `stmt`; a tenant-scoped statement
    without the list's filters, when those are costly to evaluate again).
    """
    size = size or PAGE_SIZE
    if where.before is not None:
        ids = _ids(stmt, order, where.before, True, size + 1, id_column, window)
        more_before, more_after = len(ids) > size, True
        ids = ids[:size][::-1]
    elif where.after is not None or where.page == 1:
        ids = _ids(stmt, order, where.after, False, size + 1, id_column, window)
        more_before, more_after = where.after is not None, len(ids) > size
        ids = ids[:size]
    else:
        ids = list(db.session.scalars(stmt.with_only_columns(id_column).order_by(*order.clauses())
                                      .offset((where.page - 1) * size).limit(size + 1)))
        more_before, more_after = True, len(ids) > size
        ids = ids[:size]
    run = db.session.scalars if scalars else db.session.execute
    found = list(run((stmt if rows is None else rows).where(id_column.in_(ids)).order_by(*order.clauses()))) if ids else []
    number = where.page
    return Page(
        items=found,
        number=number,
        next_cursor=encode(order.key(found[-1]), number + 1) if found and more_after else None,
        prev_cursor=encode(order.key(found[0]), max(1, number - 1)) if found and more_before else None,
    )


def _ids(stmt: Select, order: Order, boundary: tuple | None, reverse: bool, limit: int, id_column,
         window: Window | None) -> list:
    ordered = order.clauses(reverse)
    past = [_beyond(order, boundary, reverse)] if boundary is not None else []

    def first(select_: Select, count: int) -> Select:
        return select_.with_only_columns(id_column).where(*past).order_by(*ordered).limit(count)

    if window is not None:
        found = list(db.session.scalars(first(window.filtered.where(id_column.in_(first(window.base, WINDOW))), limit)))
        if len(found) >= limit:
            return found
    return list(db.session.scalars(first(stmt, limit)))
