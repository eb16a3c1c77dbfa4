"""Selecting a typed row's columns: the row type names them, in its field order."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from sqlalchemy import ColumnElement, Table

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
