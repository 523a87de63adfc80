"""PEP 562 lazy names for a package ``__init__``: a submodule is imported the first time one of its
names is read, so importing the package (and ``cspdet --help``) stays free of torch and OpenCV."""
from __future__ import annotations

from importlib import import_module
from typing import Callable


def lazy_exports(package: str, exports: dict[str, list[str]], namespace: dict) -> tuple[list[str], Callable, Callable]:
    """(``__all__``, ``__getattr__``, ``__dir__``) for ``package`` exporting ``exports`` ({submodule:
    names}); ``namespace`` is the package's ``globals()``, where each name is kept once resolved."""
    where = {name: module for module, names in exports.items() for name in names}
    names = sorted(where)

    def __getattr__(name):
        if name in where:
            value = getattr(import_module(f".{where[name]}", package), name)
            namespace[name] = value
            return value
        raise AttributeError(f"module {package!r} has no attribute {name!r}")

    def __dir__():
        return sorted(list(namespace) + names)

    return names, __getattr__, __dir__
