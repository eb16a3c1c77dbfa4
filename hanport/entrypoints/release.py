"""Release a workflow version: record its fingerprint in ``hanport/workflows/released.py``.

    python -m hanport.entrypoints.release NAME@VERSION [NAME@VERSION …]

A developer's tool, run once when a new version is declared; an already released version is
refused if its definition changed (declare the next version instead).
"""

from __future__ import annotations

import sys
from pathlib import Path

from hanport import workflows
from hanport.workflows import released
from hanport.workflows.versions import fingerprint


def _entries(keys: list[str]) -> dict[str, str]:
    table = dict(released.RELEASED)
    for key in keys:
        name, _, version = key.partition("@")
        try:
            wf = workflows.get(name, int(version))
        except (KeyError, ValueError):
            raise SystemExit(f"no workflow version {key!r} (give NAME@VERSION)") from None
        if wf.key in table and table[wf.key] != fingerprint(wf):
            raise SystemExit(f"{wf.key} is released and its definition changed: declare a new one")
        table[wf.key] = fingerprint(wf)
    return table


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    table = _entries(argv)
    path = Path(released.__file__)
    text = path.read_text(encoding="utf-8")
    head = text[: text.index("RELEASED: dict[str, str] = {")]
    body = "".join(f'    "{k}": "{v}",\n' for k, v in sorted(table.items()))
    path.write_text(head + "RELEASED: dict[str, str] = {\n" + body + "}\n", encoding="utf-8")
    print("released: " + ", ".join(argv))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
