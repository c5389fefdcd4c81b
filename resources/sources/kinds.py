"""The source kinds: catalog `kind` -> the class that implements it. Adding a kind is one module under
`resources/sources/` and one line here."""

from __future__ import annotations

import importlib

from resources.sources.base import Source, contract_problem
from resources.sources.demo import DemoSource
from resources.sources.file import FileSource
from resources.sources.http import HttpSource
from resources.sources.ngsi_ld import NgsiLdSource
from resources.sources.postgres import PostgresSource

KINDS: dict[str, type[Source]] = {
    "file": FileSource,
    "demo": DemoSource,
    "http": HttpSource,
    "postgres": PostgresSource,
    "ngsi_ld": NgsiLdSource,
}


class KindError(ValueError):
    pass


def kind_class(kind: str) -> type[Source]:
    """The class of a built-in kind or of a plugin `pkg.module:Class`; KindError says why there is none."""
    if kind in KINDS:
        return KINDS[kind]
    module_name, sep, class_name = kind.partition(":")
    if not sep:
        raise KindError(f"must be one of {', '.join(KINDS)} or 'pkg.module:Class'")
    try:
        found = getattr(importlib.import_module(module_name), class_name)
    except (ImportError, AttributeError):
        raise KindError(f"cannot import {kind!r}") from None
    problem = contract_problem(found)
    if problem:
        raise KindError(f"{kind!r} {problem}")
    assert isinstance(found, type)
    return found
