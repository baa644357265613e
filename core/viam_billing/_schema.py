"""The shape of every model field, worked out once per class: the one walk over a model's fields.

JSON encoding, the protobuf codec, replay matching and redaction all need to know, for each field of a model,
whether it holds a scalar, a time, bytes, an enum, a nested model, a tuple of them, or ``None``. They all read it
from :func:`model_fields` instead of each taking apart the type hints in its own way.
"""

from __future__ import annotations

import enum
import types
import typing
from datetime import datetime
from typing import Any, Literal, Union

import attrs

from ._models import Model

__all__ = ["FieldKind", "ModelField", "model_fields"]

FieldKind = Literal["str", "int", "bool", "float", "bytes", "time", "enum", "model"]
"""What a field holds: a scalar, a ``time`` (an aware ``datetime``), an ``enum`` (an open int enum) or a nested
``model``; repetition and optionality are told apart by :class:`ModelField` itself."""


@attrs.frozen(kw_only=True)
class ModelField:
    """One field of a model class.

    ``kind`` says what one value is and ``type`` its Python class (``str``, ``float``, ``datetime``, the enum or
    the nested model class). ``repeated`` fields hold a tuple of such values; ``optional`` ones may be ``None``
    (proto3 ``optional`` scalars, messages and timestamps).
    """

    name: str
    kind: FieldKind
    type: type
    repeated: bool = False
    optional: bool = False
    default: Any = None


_KINDS: dict[type, FieldKind] = {
    str: "str",
    int: "int",
    bool: "bool",
    float: "float",
    bytes: "bytes",
    datetime: "time",
}
_CACHE: dict[type[Model], tuple[ModelField, ...]] = {}


def model_fields(cls: type[Model]) -> tuple[ModelField, ...]:
    """Every field of the model class ``cls``, in declaration (and wire) order.

    >>> [(f.name, f.kind, f.repeated) for f in model_fields(GetInvoicesSummaryResponse)]
    [('outstanding_balance', 'float', False), ('invoices', 'model', True)]
    """
    fields = _CACHE.get(cls)
    if fields is None:
        # The models' annotations are real objects, not strings (see ``_models``), so ``field.type`` is a type.
        fields = _CACHE[cls] = tuple(_shape(field, field.type) for field in attrs.fields(cls))
    return fields


def _shape(field: attrs.Attribute[Any], hint: Any) -> ModelField:
    optional = repeated = False
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        (hint,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
        optional = True
    elif origin is tuple:
        hint = typing.get_args(hint)[0]
        repeated = True
    if isinstance(hint, type) and issubclass(hint, Model):
        kind: FieldKind = "model"
    elif isinstance(hint, type) and issubclass(hint, enum.IntEnum):
        kind = "enum"
    elif hint in _KINDS:
        kind = _KINDS[hint]
    else:  # pragma: no cover - a new field type must be taught to every reader of this table
        raise TypeError(f"{field.name}: no field kind for {hint!r}")
    default = field.default
    return ModelField(name=field.name, kind=kind, type=hint, repeated=repeated, optional=optional, default=default)
