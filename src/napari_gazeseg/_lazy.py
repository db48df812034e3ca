"""Lazy public names for a package: ``from pkg import Name`` imports only Name's module."""

from __future__ import annotations

import importlib
import sys
from typing import Callable, Mapping


def lazy_exports(package: str, public: Mapping[str, str]) -> tuple[list[str], Callable, Callable]:
    """``(__all__, __getattr__, __dir__)`` for ``package`` exporting ``{name: submodule}``.

    A name is imported from ``package.submodule`` on first access and then kept in
    the package's namespace.
    """
    names = sorted(public)

    def __getattr__(name: str):
        module = public.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{module}"), name)
        setattr(sys.modules[package], name, value)
        return value

    def __dir__():
        return names

    return names, __getattr__, __dir__
