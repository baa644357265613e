"""Making a package's public names report the package as their home, and loading heavy ones on first use."""

from __future__ import annotations

import importlib
import sys
import types
from collections.abc import Callable, Iterable, Mapping, MutableMapping
from typing import Any

__all__ = ["lazy", "publish"]


def publish(
    namespace: MutableMapping[str, Any], *, names: Iterable[str] | None = None, package: str | None = None
) -> None:
    """Set ``__module__`` of the classes and functions in a package's ``__all__`` to the package's name.

    Called at the end of a package's ``__init__`` with ``globals()``, so that tracebacks, reprs and docs show
    ``viam_billing.BillingClient`` rather than the private module it lives in. ``names`` limits it to some of
    ``__all__`` and ``package`` names another home for them (a name that two public modules export keeps the
    shorter path). Names loaded lazily (see ``lazy``) are published when they are first loaded.
    """
    package = package or namespace["__name__"]
    for name in namespace["__all__"] if names is None else names:
        if name in namespace:
            _claim(namespace[name], package)


def lazy(
    namespace: MutableMapping[str, Any], where: Mapping[str, str]
) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """Module ``__getattr__`` and ``__dir__`` (PEP 562) that import some public names only when first used.

    ``where`` maps a name to ``".module"``: the submodule itself when the name is the module's, else the attribute
    of that name in it. Used for names
    whose import is costly (a thread portal, a terminal renderer) and that many programs never touch.
    """
    package = namespace["__name__"]

    def __getattr__(name: str) -> Any:
        target = where.get(name)
        if target is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        module = importlib.import_module(target, package)
        value = module if target == f".{name}" else getattr(module, name)
        _claim(value, package)
        sys.modules[package].__dict__[name] = value  # later lookups find it without coming here
        return value

    def __dir__() -> list[str]:
        return sorted(set(namespace) | set(where))

    return __getattr__, __dir__


def _claim(obj: object, package: str) -> None:
    if isinstance(obj, (type, types.FunctionType)):
        obj.__module__ = package
