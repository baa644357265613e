"""Making a package's public names report the package as their home."""

from __future__ import annotations

import types
from collections.abc import MutableMapping
from typing import Any

__all__ = ["publish"]


def publish(namespace: MutableMapping[str, Any]) -> None:
    """Set ``__module__`` of the classes and functions in a package's ``__all__`` to the package's name.

    Called at the end of a package's ``__init__`` with ``globals()``, so that tracebacks, reprs and docs show
    ``viam_billing.BillingClient`` rather than the private module it lives in.
    """
    package = namespace["__name__"]
    for name in namespace["__all__"]:
        obj = namespace[name]
        if isinstance(obj, (type, types.FunctionType)):
            obj.__module__ = package
