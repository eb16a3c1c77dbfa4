"""Selecting a typed row's columns: the row type names them, in its field order."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from functools import cache
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table
from sqlalchemy.engine import Connection

from hanport.storage.sql import Driver

T = TypeVar("T")


def names(row_type: type) -> tuple[str, ...]:
    """The field names of a named tuple or a dataclass."""
    fields = getattr(row_type, "_fields", None)
    if fields is not None:
        return tuple(fields)
    return tuple(f.name for f in dataclasses.fields(row_type))


def of(table: Table, row_type: type, *, but_last: int = 0) -> list[ColumnElement[Any]]:
    """``table``'s columns for ``row_type``'s fields, in order; the last ``but_last`` fields
    come from elsewhere (a joined table)."""
    fields = names(row_type)
    return [table.c[n] for n in fields[: len(fields) - but_last]]


def make(row_type: Callable[..., T], row: Iterable[Any]) -> T:
    """``row_type`` from a result row, field by field in order."""
    return row_type(*row)


def listed(row_type: type, alias: str = "") -> str:
    """``row_type``'s fields as a select list (``alias.`` before each)."""
    return ", ".join(f"{alias}.{n}" if alias else n for n in names(row_type))


def fetch(conn: Connection, row_type: Callable[..., T], sql: str, params: Any = ()) -> list[T]:
    """Rows of ``row_type`` from a fixed statement on the driver's connection — no table objects,
    so a read such as ``case show`` does not build the SQLModel tables. Instants and booleans
    come back as SQLAlchemy's column types give them (UTC datetimes; ``bool``)."""
    db = Driver(conn)
    convert = _converters(row_type, db.sqlite)
    read_ts = db.read_ts
    out = []
    for r in db.all(sql, params):
        values = [
            read_ts(v) if c == "ts" else (None if v is None else bool(v)) if c == "bool" else v
            for c, v in zip(convert, r, strict=True)
        ]
        out.append(row_type(*values))
    return out


@cache
def _converters(row_type: Any, _sqlite: bool) -> tuple[str, ...]:
    hints = getattr(row_type, "__annotations__", {})
    kinds = []
    for n in names(row_type):
        h = hints.get(n, "")
        hint = h if isinstance(h, str) else getattr(h, "__forward_arg__", None) or str(h)
        first = hint.split("|")[0].strip()
        kinds.append("ts" if "datetime" in hint else "bool" if first == "bool" else "")
    return tuple(kinds)
