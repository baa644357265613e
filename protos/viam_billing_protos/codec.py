"""Conversion between :mod:`viam_billing` models and our protobuf messages.

Both directions are lossless for every message, with one documented exception: protobuf timestamps carry
nanoseconds and Python ``datetime`` microseconds, so sub-microsecond digits are dropped (the service's times are
whole seconds). Unknown enum numbers survive as :class:`~viam_billing.OpenIntEnum` pseudo-members; unset message
fields and absent proto3 ``optional`` fields become ``None`` and back.

The converters are compiled once per model class into small closures: this runs on every call.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from typing import Any, TypeVar, Union

import attrs
from google.protobuf import message_factory
from viam_billing import Model

from ._generated import billing_pb

__all__ = ["from_message", "message_type", "model_type", "to_message"]

ModelT = TypeVar("ModelT", bound=Model)

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_Timestamp: Any = message_factory.GetMessageClass(
    billing_pb.InvoiceSummary.DESCRIPTOR.fields_by_name["invoice_date"].message_type
)


def message_type(model_cls: type[Model]) -> Any:
    """Return the protobuf message class of a model class (the one with the same name)."""
    return _message_type(model_cls)


@lru_cache(maxsize=None)
def _message_type(model_cls: type[Model]) -> Any:
    try:
        return getattr(billing_pb, model_cls.__name__)
    except AttributeError:
        raise TypeError(f"{model_cls.__name__} is not a billing model with a protobuf message") from None


@lru_cache(maxsize=None)
def model_type(message_cls: Any) -> type[Model]:
    """Return the model class of a protobuf message class."""
    import viam_billing

    cls = getattr(viam_billing, message_cls.DESCRIPTOR.name, None)
    if not (isinstance(cls, type) and issubclass(cls, Model)):
        raise TypeError(f"no viam_billing model for {message_cls.DESCRIPTOR.full_name}")
    return cls


def to_message(model: Model) -> Any:
    """Return the protobuf message for ``model``."""
    return _encoder(type(model))(model)


def from_message(model_cls: type[ModelT], message: Any) -> ModelT:
    """Return the ``model_cls`` model for a protobuf ``message``."""
    return _decoder(model_cls)(message)  # type: ignore[no-any-return]


# --- compiling converters -----------------------------------------------------------------------------------

def _kinds(model_cls: type[Model]) -> list[tuple[str, str, Any]]:
    """(field name, kind, inner type) for every field of a model class."""
    hints = typing.get_type_hints(model_cls)
    result = []
    for field in attrs.fields(model_cls):
        hint = hints[field.name]
        origin = typing.get_origin(hint)
        if origin in (Union, types.UnionType):
            (inner,) = [arg for arg in typing.get_args(hint) if arg is not type(None)]
            if inner is datetime:
                result.append((field.name, "time", inner))
            elif isinstance(inner, type) and issubclass(inner, Model):
                result.append((field.name, "model", inner))
            else:
                result.append((field.name, "optional", inner))
        elif origin is tuple:
            (inner, _) = typing.get_args(hint)
            kind = "models" if isinstance(inner, type) and issubclass(inner, Model) else "strings"
            result.append((field.name, kind, inner))
        elif isinstance(hint, type) and issubclass(hint, enum.IntEnum):
            result.append((field.name, "enum", hint))
        else:
            result.append((field.name, "scalar", hint))
    return result


def _to_timestamp(value: datetime) -> Any:
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    delta = value - _EPOCH
    return _Timestamp(seconds=delta.days * 86400 + delta.seconds, nanos=delta.microseconds * 1000)


def _from_timestamp(message: Any) -> datetime:
    return _EPOCH + timedelta(seconds=message.seconds, microseconds=message.nanos // 1000)


@lru_cache(maxsize=None)
def _encoder(model_cls: type[Model]) -> Callable[[Model], Any]:
    message_cls = _message_type(model_cls)
    steps = [_encode_step(name, kind, inner) for name, kind, inner in _kinds(model_cls)]

    def encode(model: Model) -> Any:
        values: dict[str, Any] = {}
        for step in steps:
            step(model, values)
        return message_cls(**values)

    return encode


def _encode_step(name: str, kind: str, inner: Any) -> Callable[[Model, dict[str, Any]], None]:
    if kind in ("scalar", "strings"):

        def step(model: Model, values: dict[str, Any]) -> None:
            values[name] = getattr(model, name)

    elif kind == "enum":

        def step(model: Model, values: dict[str, Any]) -> None:
            values[name] = int(getattr(model, name))

    elif kind == "optional":

        def step(model: Model, values: dict[str, Any]) -> None:
            value = getattr(model, name)
            if value is not None:
                values[name] = value

    elif kind == "time":

        def step(model: Model, values: dict[str, Any]) -> None:
            value = getattr(model, name)
            if value is not None:
                values[name] = _to_timestamp(value)

    elif kind == "model":
        sub = _encoder(inner)

        def step(model: Model, values: dict[str, Any]) -> None:
            value = getattr(model, name)
            if value is not None:
                values[name] = sub(value)

    else:  # "models"
        sub = _encoder(inner)

        def step(model: Model, values: dict[str, Any]) -> None:
            values[name] = [sub(item) for item in getattr(model, name)]

    return step


@lru_cache(maxsize=None)
def _decoder(model_cls: type[Model]) -> Callable[[Any], Model]:
    steps = [_decode_step(name, kind, inner) for name, kind, inner in _kinds(model_cls)]

    def decode(message: Any) -> Model:
        return model_cls(**{name: step(message) for name, step in steps})

    return decode


def _decode_step(name: str, kind: str, inner: Any) -> tuple[str, Callable[[Any], Any]]:
    if kind == "scalar":
        return name, lambda message: getattr(message, name)
    if kind == "strings":
        return name, lambda message: tuple(getattr(message, name))
    if kind == "enum":
        return name, lambda message: inner(getattr(message, name))
    if kind == "optional":
        return name, lambda message: getattr(message, name) if message.HasField(name) else None
    if kind == "time":
        return name, lambda message: _from_timestamp(getattr(message, name)) if message.HasField(name) else None
    sub = _decoder(inner)
    if kind == "model":
        return name, lambda message: sub(getattr(message, name)) if message.HasField(name) else None
    return name, lambda message: tuple(sub(item) for item in getattr(message, name))

