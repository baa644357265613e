"""A griffe extension that leaves special methods (``__repr__``, ``__aenter__``, ...) out of the API reference.

The reference shows what ``__all__`` makes public (mkdocstrings' ``filters: public``), and griffe counts special
methods as public too. They are how Python drives an object, not what a reader calls (the class docstrings say
when a class is a context manager), so they are dropped from the loaded classes. ``__init__`` stays (its
parameters are the class's signature) and so does ``__call__`` (a factory protocol's one method).
"""

from __future__ import annotations

from collections.abc import Iterator

import griffe

__all__ = ["SpecialMembersHidden"]

_KEPT = frozenset({"__init__", "__call__"})


class SpecialMembersHidden(griffe.Extension):
    """Drop the ``__special__`` members of every class of a package once griffe has loaded it."""

    def on_package(self, *, pkg: griffe.Module, **kwargs: object) -> None:
        for cls in list(_classes(pkg)):
            for name in [name for name in cls.members if _special(name) and name not in _KEPT]:
                del cls.members[name]


def _special(name: str) -> bool:
    return name.startswith("__") and name.endswith("__") and len(name) > 4


def _classes(obj: griffe.Object) -> Iterator[griffe.Class]:
    for member in list(obj.members.values()):
        if member.is_alias:
            continue
        if isinstance(member, griffe.Class):
            yield member
        if isinstance(member, (griffe.Module, griffe.Class)):
            yield from _classes(member)
