"""The nightly batch's files kept after their run, on disk: the terminations files applied
(``done/``) or set aside (``failed/``) in ``HANPORT_BATCH_INBOX``, each with what was written
beside it — its rejects file (``NAME.rejects.csv``) or the reason it was refused
(``NAME.reason.txt``). Found by content hash, as the inbox claims them (``batch_files``)."""

from __future__ import annotations

import contextlib
import hashlib
from dataclasses import dataclass
from pathlib import Path

FOLDERS = ("done", "failed")
BESIDE = (".rejects.csv", ".reason.txt")


@dataclass(frozen=True)
class KeptFile:
    path: Path
    digest: str  # SHA-256 of its content: its ``batch_files`` row
    beside: tuple[Path, ...]  # what the run wrote beside it

    def delete(self) -> None:
        for p in (self.path, *self.beside):
            with contextlib.suppress(FileNotFoundError):  # another scheduler was first
                p.unlink()


def kept(inbox: str | None) -> list[KeptFile]:
    """Every file a run left in the inbox's ``done/`` and ``failed/`` (none without an inbox)."""
    if not inbox:
        return []
    out = []
    for folder in (Path(inbox) / name for name in FOLDERS):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.csv")):
            if path.name.endswith(BESIDE):
                continue
            try:
                digest = hashlib.sha256(path.read_bytes()).hexdigest()
            except FileNotFoundError:
                continue
            beside = tuple(p for p in (path.with_name(path.name + s) for s in BESIDE) if p.exists())
            out.append(KeptFile(path, digest, beside))
    return out
