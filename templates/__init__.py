"""The templates hanport renders (mail notices, the audit evidence page, declarations), and the
one way they are loaded: package data, strict about missing values, never re-read."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined


def environment(folder: str, *, autoescape: bool) -> Environment:
    """A Jinja2 environment over the templates in ``folder`` of this package."""
    return Environment(
        loader=PackageLoader("hanport.templates", folder),
        autoescape=autoescape,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        auto_reload=False,  # package data: no stat of every template at every render
    )
