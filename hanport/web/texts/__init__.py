"""The pages' texts, one TOML file per language (``nb`` bokmål, the default; ``nn`` nynorsk;
``en`` English), loaded once."""

from __future__ import annotations

import tomllib
from functools import cache
from importlib.resources import files
from typing import Any

LANGUAGES = ("nb", "nn", "en")
DEFAULT = "nb"


class Texts:
    """One language's texts: ``t("field.meter")``, ``t("error.too_long", label=…, max=…)``."""

    def __init__(self, language: str, table: dict[str, Any]) -> None:
        self.language = language
        self._table = table

    def __call__(self, key: str, **values: object) -> str:
        node: Any = self._table
        for part in key.split("."):
            node = node[part]
        text = str(node)
        return text.format(**values) if values else text


@cache
def texts(language: str) -> Texts:
    if language not in LANGUAGES:
        raise KeyError(language)
    raw = files("hanport.web.texts").joinpath(f"{language}.toml").read_text(encoding="utf-8")
    return Texts(language, tomllib.loads(raw))


def keys(table: dict[str, Any], prefix: str = "") -> set[str]:
    """Every key of a language's table, dotted (for the test that keeps the languages equal)."""
    out: set[str] = set()
    for k, v in table.items():
        if isinstance(v, dict):
            out |= keys(v, f"{prefix}{k}.")
        else:
            out.add(prefix + k)
    return out
