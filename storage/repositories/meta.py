"""Per-database settings (``meta``): the clock mode, the simulated time."""

from __future__ import annotations

from hanport.storage.sql import Driver


class Meta:
    def __init__(self, db: Driver) -> None:
        self.db = db

    def get(self, key: str) -> str | None:
        row = self.db.one("SELECT value FROM meta WHERE key = ?", (key,))
        return None if row is None else str(row[0])

    def set(self, key: str, value: str) -> None:
        if not self.db.rowcount("UPDATE meta SET value = ? WHERE key = ?", (value, key)):
            self.db.execute("INSERT INTO meta (key, value) VALUES (?, ?)", (key, value))

    def setdefault(self, key: str, value: str) -> str:
        """Insert ``value`` unless a row exists; return the stored value (first writer wins)."""
        self.db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO NOTHING", (key, value)
        )
        stored = self.get(key)
        assert stored is not None
        return stored
