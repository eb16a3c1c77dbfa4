"""Reading the CSV files hanport takes: UTF-8 (BOM allowed), ``;``-separated, CRLF or LF, with
a header row. An unusable file is refused whole; a bad row is reported by its row number (the
header is row 1)."""

from __future__ import annotations

import csv
import hashlib
import io
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from hanport.errors import Refused


@dataclass(frozen=True)
class Row:
    number: int  # the header is row 1
    values: dict[str, str]


@dataclass(frozen=True)
class Rejected:
    number: int
    reason: str
    raw: str = ""

    def as_dict(self) -> dict[str, object]:
        return {"row": self.number, "reason": self.reason}


class BadRow(ValueError):
    """One row is wrong; the message says which field and why."""


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and its SHA-256; refused when missing, empty or not UTF-8."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise Refused(f"{path}: cannot read the file ({exc.strerror})", field="file") from None
    digest = hashlib.sha256(raw).hexdigest()
    if not raw.strip():
        raise Refused(f"{path}: the file is empty", field="file")
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise Refused(
            f"{path}: not UTF-8 (invalid byte 0x{raw[exc.start]:02x} on line {line}); "
            "save it as UTF-8 and try again",
            field="file",
        ) from None
    return text, digest


def rows(path: Path, header: tuple[str, ...], text: str) -> Iterator[Row | Rejected]:
    """Check the header, then yield each data row as a dict, or a ``Rejected`` for a row with
    the wrong number of columns."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=";")
    try:
        first = next(reader)
    except StopIteration:
        raise Refused(f"{path}: the file is empty", field="file") from None
    got = tuple(h.strip() for h in first)
    if got != header:
        raise Refused(
            f"{path}: wrong header: expected {';'.join(header)!r}, found {';'.join(got)!r}",
            field="header",
        )
    any_row = False
    for cells in reader:
        number = reader.line_num
        if not cells or all(not c.strip() for c in cells):
            continue
        any_row = True
        if len(cells) != len(header):
            yield Rejected(
                number,
                f"expected {len(header)} columns separated by ';', found {len(cells)}",
                ";".join(cells),
            )
            continue
        yield Row(number, {h: c.strip() for h, c in zip(header, cells, strict=True)})
    if not any_row:
        raise Refused(f"{path}: the file has a header but no rows", field="file")
