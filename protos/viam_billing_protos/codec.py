"""Conversion between :mod:`viam_billing` models and our protobuf messages.

Both directions are lossless for every message, with one documented exception: protobuf timestamps carry
nanoseconds and Python ``datetime`` microseconds, so sub-microsecond digits are dropped (truncated towards the
past, never rounded up into the next second; the service's times are whole seconds). Unknown enum numbers survive
as :class:`~viam_billing.OpenIntEnum` pseudo-members; unset message fields and absent proto3 ``optional`` fields
become ``None`` and back, while a present one keeps its presence even when it holds the zero value
(``billing_tier=""``). Doubles keep their exact bits: ``-0.0``, subnormals, infinities and NaN (with its payload)
come back as they went (protobuf's pure-Python backend, unlike upb, makes every NaN it parses the canonical one).
Datetimes are sent as the instant they denote: a naive one is taken as UTC, and decoded ones are always UTC.

What cannot be represented fails loudly and names the field: :class:`~viam_billing.ValidationError` when a model
holds a value protobuf cannot carry (a string with a lone surrogate, an enum number outside int32, an int outside
int64), :class:`~viam_billing.DecodeError` when a message holds a timestamp outside the years 1-9999 that
``datetime`` supports. Passing a message of another type than the model's is a ``TypeError``.

The converters are compiled once per model class: this runs on every call. Decoding first tries one
straight-line function per class (generated source, no per-field bookkeeping); only when that raises does a
careful decoder, field by field, run again to name the field that failed.
"""

from __future__ import annotations

import enum
import types
import typing
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, TypeVar, Union

import attrs
from google.protobuf import message_factory
from viam_billing import DecodeError, Model, ValidationError

from ._generated import billing_pb

__all__ = ["from_message", "message_type", "model_type", "to_message"]

ModelT = TypeVar("ModelT", bound=Model)
_K = TypeVar("_K")
_V = TypeVar("_V")

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_Timestamp: Any = message_factory.GetMessageClass(
    billing_pb.InvoiceSummary.DESCRIPTOR.fields_by_name["invoice_date"].message_type
)


def _per_class(build: Callable[[_K], _V]) -> Callable[[_K], _V]:
    """Memoise ``build`` by its argument (a class): converters are compiled once, on first use."""
    built: dict[_K, _V] = {}

    def get(key: _K) -> _V:
        try:
            return built[key]
        except KeyError:
            value = built[key] = build(key)
            return value

    get.__doc__ = build.__doc__
    return get


def message_type(model_cls: type[Model]) -> Any:
    """Return the protobuf message class of a model class (the one with the same name)."""
    return _message_type(model_cls)


@_per_class
def _message_type(model_cls: type[Model]) -> Any:
    message_cls = getattr(billing_pb, getattr(model_cls, "__name__", ""), None)
    if not (isinstance(model_cls, type) and issubclass(model_cls, Model) and hasattr(message_cls, "FromString")):
        raise TypeError(f"{model_cls!r} is not a billing model with a protobuf message")
    return message_cls


@_per_class
def model_type(message_cls: Any) -> type[Model]:
    """Return the model class of a protobuf message class (ours or the official SDK's).

    Raises ``TypeError`` for a message that is not one of ``viam.app.v1`` billing.
    """
    import viam_billing

    full_name = getattr(getattr(message_cls, "DESCRIPTOR", None), "full_name", repr(message_cls))
    package, _, name = full_name.rpartition(".")
    cls = getattr(viam_billing, name, None)
    if package != "viam.app.v1" or not (isinstance(cls, type) and issubclass(cls, Model)):
        raise TypeError(f"no viam_billing model for {full_name}")
    return cls


def to_message(model: Model) -> Any:
    """Return the protobuf message for ``model``.

    Raises :class:`~viam_billing.ValidationError` (``argument`` is the field's path, such as
    ``invoices[1].status``) when a value cannot be carried by protobuf, and ``TypeError`` for an object that is
    not a billing model.
    """
    fast = _fast_encoder(type(model))
    if fast is not None:
        try:
            return fast(model)
        except Exception:
            pass  # the careful encoder below finds the field and says what is wrong
    try:
        return _encoder(type(model))(model)
    except _FieldFailure as failure:
        raise ValidationError(
            f"cannot encode {type(model).__name__}.{failure.path} as protobuf: {failure.cause}",
            argument=failure.path,
        ) from failure.cause


def from_message(model_cls: type[ModelT], message: Any) -> ModelT:
    """Return the ``model_cls`` model for a protobuf ``message``.

    ``message`` may come from any descriptor pool (ours, or the official SDK's) as long as its type is the one of
    ``model_cls``; another type is a ``TypeError``. Raises :class:`~viam_billing.DecodeError`, whose ``path``
    names the field, for a timestamp that ``datetime`` cannot hold.
    """
    message_cls = _message_type(model_cls)
    if type(message) is not message_cls:  # another pool's class of the same type is fine too
        expected = message_cls.DESCRIPTOR.full_name
        actual = getattr(getattr(message, "DESCRIPTOR", None), "full_name", None)
        if actual != expected:
            got = actual or type(message).__name__
            raise TypeError(f"from_message({model_cls.__name__}, ...) needs a {expected} message, got {got}")
    try:
        return typing.cast("ModelT", _fast_decoder(model_cls)(message))
    except Exception:
        pass  # the careful decoder below finds the field and says what is wrong
    try:
        return typing.cast("ModelT", _decoder(model_cls)(message))
    except _FieldFailure as failure:
        raise DecodeError(
            f"cannot decode {model_cls.__name__} from protobuf: {failure.cause}", path=failure.path
        ) from failure.cause


# --- compiling converters -----------------------------------------------------------------------------------

# What protobuf and datetime raise for a value they cannot take.
_VALUE_ERRORS = (TypeError, ValueError, OverflowError)


class _FieldFailure(Exception):
    """A conversion failed at ``path``; nested converters extend the path on the way out."""

    def __init__(self, path: str, cause: Exception) -> None:
        super().__init__(path, cause)
        self.path = path
        self.cause = cause

    def within(self, name: str) -> _FieldFailure:
        if not self.path or self.path.startswith("["):
            return _FieldFailure(name + self.path, self.cause)
        return _FieldFailure(f"{name}.{self.path}", self.cause)


def _kinds(model_cls: type[Model]) -> list[tuple[str, str, Any]]:
    """(field name, kind, inner type) for every field of a model class."""
    result: list[tuple[str, str, Any]] = []
    for field in attrs.fields(model_cls):
        hint = field.type
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
    # Positional arguments: timedelta's keyword parsing doubled the cost of this, which runs for every date.
    return _EPOCH + timedelta(0, message.seconds, message.nanos // 1000)


# Whole-second times seen lately, by their seconds: the same dates (invoice, due, month start) come back in
# every answer, and a dict lookup costs a fraction of building the datetime. Datetimes are immutable, so sharing
# one is safe. Bounded: emptied when full.
_WHOLE_SECONDS: dict[int, datetime] = {}
_WHOLE_SECONDS_MAX = 4096


def _interned_time(message: Any) -> datetime:
    seconds, nanos = message.seconds, message.nanos
    if nanos:
        return _EPOCH + timedelta(0, seconds, nanos // 1000)
    value = _WHOLE_SECONDS.get(seconds)
    if value is None:
        value = _EPOCH + timedelta(0, seconds)
        if len(_WHOLE_SECONDS) >= _WHOLE_SECONDS_MAX:
            _WHOLE_SECONDS.clear()
        _WHOLE_SECONDS[seconds] = value
    return value


@_per_class
def _encoder(model_cls: type[Model]) -> Callable[[Model], Any]:
    message_cls = _message_type(model_cls)
    steps = [(name, _encode_step(name, kind, inner)) for name, kind, inner in _kinds(model_cls)]

    def encode(model: Model) -> Any:
        values: dict[str, Any] = {}
        for name, step in steps:
            try:
                step(model, values)
            except _FieldFailure as failure:
                raise failure.within(name) from None
            except _VALUE_ERRORS as exc:
                raise _FieldFailure(name, exc) from exc
        try:
            return message_cls(**values)
        except _VALUE_ERRORS as exc:
            raise _FieldFailure(_culprit(message_cls, values), exc) from exc

    return encode


@_per_class
def _fast_encoder(model_cls: type[Model]) -> Callable[[Model], Any] | None:
    """``message_cls(field=model.field, ...)`` in one generated function, for models of plain fields only
    (every request the client sends on a read); ``None`` for the others, which the careful encoder handles."""
    message_cls = _message_type(model_cls)
    kinds = _kinds(model_cls)
    if any(kind not in ("scalar", "strings", "enum") for _, kind, _ in kinds):
        return None
    arguments = [f"{name}=int(x.{name})" if kind == "enum" else f"{name}=x.{name}" for name, kind, _ in kinds]
    source = f"def encode(x):\n    return message_cls({', '.join(arguments)})\n"
    namespace: dict[str, Any] = {"message_cls": message_cls, "int": int}
    exec(compile(source, f"<viam_billing_protos.codec encoder of {model_cls.__name__}>", "exec"), namespace)
    encode: Callable[[Model], Any] = namespace["encode"]
    return encode


def _culprit(message_cls: Any, values: dict[str, Any]) -> str:
    """The path of the value that made ``message_cls(**values)`` fail; only runs once something did."""
    for name, value in values.items():
        try:
            message_cls(**{name: value})
        except _VALUE_ERRORS:
            if isinstance(value, (list, tuple)):
                for index, item in enumerate(value):
                    try:
                        message_cls(**{name: [item]})
                    except _VALUE_ERRORS:
                        return f"{name}[{index}]"
            return name
    return ""


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
            items = []
            for index, item in enumerate(getattr(model, name)):
                try:
                    items.append(sub(item))
                except _FieldFailure as failure:
                    raise failure.within(f"[{index}]") from None
            values[name] = items

    return step


@_per_class
def _decoder(model_cls: type[Model]) -> Callable[[Any], Model]:
    steps = [_decode_step(name, kind, inner) for name, kind, inner in _kinds(model_cls)]

    def decode(message: Any) -> Model:
        values: dict[str, Any] = {}
        for name, step in steps:
            try:
                values[name] = step(message)
            except _FieldFailure as failure:
                raise failure.within(name) from None
            except _VALUE_ERRORS as exc:
                raise _FieldFailure(name, exc) from exc
        return model_cls(**values)

    return decode


@_per_class
def _fast_decoder(model_cls: type[Model]) -> Callable[[Any], Model]:
    """One generated function per class that reads every field of the message in a straight line.

    Where the model is a plain slotted attrs class (no validators, no init hooks, a slot per field and nothing
    else), the function fills a new instance's slots directly, applying the field's converter itself, so
    that each value is converted once and attrs' frozen ``__init__`` is skipped; otherwise it calls the class.
    Every field name is an identifier (it is an attrs field).
    """
    fields = {field.name: field for field in attrs.fields(model_cls)}
    direct = _fills_slots(model_cls)
    namespace: dict[str, Any] = {"cls": model_cls, "_new": object.__new__, "_time": _interned_time}
    body = ["o = _new(cls)"] if direct else ["values = {}"]
    for index, (name, kind, inner) in enumerate(_kinds(model_cls)):
        converter = fields[name].converter
        if direct:
            namespace[f"_set_{index}"] = model_cls.__dict__[name].__set__
            if converter is not None:
                namespace[f"_convert_{index}"] = converter

        def put(expression: str, index: int = index, name: str = name, converter: Any = converter) -> str:
            if not direct:
                return f"values[{name!r}] = {expression}"
            if converter is not None:
                expression = f"_convert_{index}({expression})"
            return f"_set_{index}(o, {expression})"

        value, present = f"m.{name}", f"m.HasField({name!r})"
        if kind == "scalar":
            body.append(put(value))
        elif kind == "strings":
            body.append(put(value if converter is not None else f"tuple({value})"))
        elif kind == "enum":
            # The member from the enum's own value map when it is there (the usual case), else the converter.
            namespace[f"_enum_{index}"] = inner
            namespace[f"_members_{index}"] = inner._value2member_map_
            body.append(f"v = {value}")
            member = f"_members_{index}[v] if v in _members_{index} else _enum_{index}(v)"
            body.append(f"_set_{index}(o, {member})" if direct else put(member))
        elif kind == "optional":
            body.append(put(f"{value} if {present} else None"))
        elif kind == "time":
            body.append(put(f"_time({value}) if {present} else None"))
        elif kind == "model":
            namespace[f"_decode_{index}"] = _fast_decoder(inner)
            body.append(put(f"_decode_{index}({value}) if {present} else None"))
        else:  # "models"
            namespace[f"_decode_{index}"] = _fast_decoder(inner)
            items = f"[_decode_{index}(item) for item in {value}]"
            body.append(put(items if converter is not None else f"tuple({items})"))
    body.append("return o" if direct else "return cls(**values)")
    source = "def decode(m):\n" + "".join(f"    {line}\n" for line in body)
    exec(compile(source, f"<viam_billing_protos.codec decoder of {model_cls.__name__}>", "exec"), namespace)
    decode: Callable[[Any], Model] = namespace["decode"]
    return decode


def _fills_slots(model_cls: type[Model]) -> bool:
    """Whether a new instance is complete once each field's slot holds its converted value (what attrs'
    ``__init__`` would do): a slotted class whose slots are exactly its fields, without validators or hooks."""
    fields = attrs.fields(model_cls)
    slots = set(model_cls.__dict__.get("__slots__", ())) - {"__weakref__"}
    plain_converter = (types.FunctionType, types.BuiltinFunctionType, type(None))
    return (
        slots == {field.name for field in fields}
        and not any(hasattr(model_cls, hook) for hook in ("__attrs_pre_init__", "__attrs_post_init__"))
        and all(
            field.validator is None and field.init and isinstance(field.converter, plain_converter) for field in fields
        )
        and all(attrs.fields(base) == () for base in model_cls.__mro__[1:] if attrs.has(base))
    )


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

    def decode_all(message: Any) -> tuple[Model, ...]:
        items = []
        for index, item in enumerate(getattr(message, name)):
            try:
                items.append(sub(item))
            except _FieldFailure as failure:
                raise failure.within(f"[{index}]") from None
        return tuple(items)

    return name, decode_all
