"""Reading the CSV files hanport takes: UTF-8 (BOM allowed), ``;``-separated, CRLF or LF, with
a header row. An unusable file is refused whole; a bad row is reported by its row number (the
header is row 1)."""

from __future__ import annotations

import codecs
import csv
import hashlib
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


CHUNK_BYTES = 1 << 20


@dataclass(frozen=True)
class Scanned:
    digest: str  # SHA-256 of the bytes
    lines: int


def scan(path: Path) -> Scanned:
    """Check a file is readable, not empty and UTF-8, streaming (memory stays flat); its hash
    and line count. Refused (nothing read further) otherwise."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    digest = hashlib.sha256()
    lines, seen, content = 0, 0, False
    try:
        with path.open("rb") as f:
            while block := f.read(CHUNK_BYTES):
                digest.update(block)
                try:
                    decoder.decode(block)
                except UnicodeDecodeError as exc:
                    line = lines + block[: exc.start].count(b"\n") + 1
                    raise Refused(
                        f"{path}: not UTF-8 (invalid byte 0x{block[exc.start]:02x} on line "
                        f"{line}); save it as UTF-8 and try again",
                        field="file",
                    ) from None
                lines += block.count(b"\n")
                seen += len(block)
                content = content or bool(block.strip())
            try:
                decoder.decode(b"", final=True)
            except UnicodeDecodeError:
                raise Refused(
                    f"{path}: not UTF-8 (truncated character at the end)", field="file"
                ) from None
    except OSError as exc:
        raise Refused(f"{path}: cannot read the file ({exc.strerror})", field="file") from None
    if not content:
        raise Refused(f"{path}: the file is empty", field="file")
    return Scanned(digest.hexdigest(), lines)


def rows(path: Path, header: tuple[str, ...]) -> Iterator[Row | Rejected]:
    """Check the header, then yield each data row as a dict, or a ``Rejected`` for a row with
    the wrong number of columns. Streams the file: call ``scan`` first."""
    with path.open(encoding="utf-8-sig", newline="") as f:
        reader = csv.reader(f, delimiter=";")
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
