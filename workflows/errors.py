"""The one way a decision says no: the command is refused as a whole and nothing is written."""

from __future__ import annotations


class Refusal(Exception):
    """A trigger not allowed, a guard or rule that failed, an invalid field; ``field`` names the
    field at fault, when one is."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field
