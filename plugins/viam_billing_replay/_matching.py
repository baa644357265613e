"""Field redaction, request matching keys, and the "nearest candidates" of an unmatched request.

Both walk models through :func:`viam_billing.plugin.model_fields`, the core's one description of a model's fields.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from typing import Any, Literal, TypeVar, cast

import attrs
from viam_billing.plugin import OPERATIONS, ConfigurationError, Model, ModelField, model_fields, to_data

__all__ = ["DEFAULT_REDACTIONS", "REDACTED", "Matcher", "Redactor", "RequestKeys", "describe_differences"]

ModelT = TypeVar("ModelT", bound=Model)

REDACTED = "REDACTED"
"""What a redacted text field holds in a cassette, unless another placeholder was given."""

DEFAULT_REDACTIONS: tuple[str, ...] = (
    "billing_email",
    "last_four_digits",
    "last_four_digits_account_number",
    "routing_number",
    "hosted_verification_page_url",
)
"""Fields redacted unless told otherwise: the billing e-mail, card and bank digits, the bank verification link."""

Matcher = Callable[[Model], Hashable]
"""A custom matcher: maps a request (already redacted) to a key; requests of one operation match when their keys
are equal."""

_USE_DEFAULT: Any = object()

# What redaction does to one field of a model: replace its value, or redact inside the nested model(s) it holds.
_Step = tuple[ModelField, Literal["replace", "one", "many"]]


def _field_names(cls: type[Model]) -> tuple[str, ...]:
    return tuple(field.name for field in model_fields(cls))


class Redactor:
    """Replaces chosen fields, at any depth of a model, with placeholders.

    ``fields`` is a sequence of field names or a mapping of field name to the placeholder to use. Without a chosen
    placeholder a text field becomes :data:`REDACTED` (``b"REDACTED"`` for bytes), a list becomes empty, an
    optional field absent (``None``), and any other field its zero value. Fields that are absent stay absent.
    Raises :class:`~viam_billing.ConfigurationError` for a name that is not a string, and, when a model is
    redacted, for a chosen placeholder of the wrong type.
    """

    def __init__(self, fields: Iterable[str] | Mapping[str, object]) -> None:
        if isinstance(fields, str):
            raise ConfigurationError(f"redact must be a list of field names, not the string {fields!r}")
        if isinstance(fields, Mapping):
            self._fields: dict[str, object] = {str(name): value for name, value in fields.items()}
        else:
            self._fields = dict.fromkeys(fields, _USE_DEFAULT)
        for name in self._fields:
            if not isinstance(name, str) or not name:
                raise ConfigurationError(f"redact: field names must be non-empty strings, got {name!r}")
        self._plans: dict[type[Model], tuple[_Step, ...]] = {}

    @property
    def fields(self) -> tuple[str, ...]:
        return tuple(self._fields)

    def _plan(self, cls: type[Model]) -> tuple[_Step, ...]:
        plan = self._plans.get(cls)
        if plan is None:
            self._plans[cls] = ()  # a model that (indirectly) contains itself must not recurse forever
            steps: list[_Step] = []
            for field in model_fields(cls):
                if field.name in self._fields:
                    steps.append((field, "replace"))
                elif field.kind == "model" and self._plan(cast("type[Model]", field.type)):
                    steps.append((field, "many" if field.repeated else "one"))
            plan = self._plans[cls] = tuple(steps)
        return plan

    def touches(self, cls: type[Model]) -> bool:
        """Whether models of ``cls`` have anything to redact."""
        return bool(self._plan(cls))

    def __call__(self, model: ModelT) -> ModelT:
        """Return ``model`` with the chosen fields replaced (the same object when there is nothing to replace)."""
        plan = self._plan(type(model))
        if not plan:
            return model
        changes: dict[str, Any] = {}
        for field, action in plan:
            value = getattr(model, field.name)
            if value is None:
                continue
            if action == "replace":
                changes[field.name] = self._placeholder(type(model), field)
            elif action == "one":
                changes[field.name] = self(value)
            else:
                changes[field.name] = tuple(self(item) for item in value)
        return attrs.evolve(model, **changes)  # type: ignore[misc]

    def _placeholder(self, cls: type[Model], field: ModelField) -> object:
        chosen = self._fields[field.name]
        if chosen is _USE_DEFAULT:
            if field.repeated:
                return ()
            if field.kind == "str":
                return REDACTED
            if field.kind == "bytes":
                return REDACTED.encode()
            return None if field.optional else field.default
        if chosen is None and field.optional:
            return None
        if field.repeated:
            if isinstance(chosen, tuple):
                return chosen
            expected = "tuple"
        elif field.kind in ("enum", "float") and isinstance(chosen, int) and not isinstance(chosen, bool):
            return field.type(chosen)  # an enum by its number, a whole number as a float
        elif type(chosen) is field.type:
            return chosen
        else:
            expected = field.type.__name__
        raise ConfigurationError(
            f"redact: the placeholder for {cls.__name__}.{field.name} must be a {expected}, "
            f"got {type(chosen).__name__} {chosen!r}"
        )


class RequestKeys:
    """Computes the key a request is matched by: operation plus the (redacted) request, minus ignored fields.

    ``ignore`` names request fields left out of matching: ``"description"`` for every operation that has it,
    ``"ChargeOrganization.description"`` for one operation. ``matcher`` replaces the field comparison entirely.
    Keys are hashable, so the cassette is indexed once and each call is a dictionary lookup.
    """

    def __init__(self, *, redactor: Redactor, ignore: Iterable[str] = (), matcher: Matcher | None = None) -> None:
        if isinstance(ignore, str):
            raise ConfigurationError(f"match_ignore must be a list of field names, not the string {ignore!r}")
        if matcher is not None and not callable(matcher):
            raise ConfigurationError(f"matcher must be callable, got {type(matcher).__name__}")
        self._redactor = redactor
        self._matcher = matcher
        self.ignore = tuple(ignore)
        self._ignored: dict[type[Model], frozenset[str]] = {}
        for spec in self.ignore:
            self._add_ignored(spec)
        self._plans: dict[type[Model], Callable[[Model], Hashable]] = {}

    def _add_ignored(self, spec: object) -> None:
        if not isinstance(spec, str) or not spec:
            raise ConfigurationError(f"match_ignore: expected field names, got {spec!r}")
        operation_name, _, field = spec.rpartition(".")
        if operation_name:
            if operation_name not in OPERATIONS:
                raise ConfigurationError(f"match_ignore: {spec!r} names no operation; known: {', '.join(OPERATIONS)}")
            types: list[type[Model]] = [OPERATIONS[operation_name].request_type]
        else:
            types = [op.request_type for op in OPERATIONS.values()]
        matched = [cls for cls in types if field in _field_names(cls)]
        if not matched:
            raise ConfigurationError(f"match_ignore: no request has a field named {field!r} (from {spec!r})")
        for cls in matched:
            self._ignored[cls] = self._ignored.get(cls, frozenset()) | {field}

    def ignored(self, cls: type[Model]) -> frozenset[str]:
        return self._ignored.get(cls, frozenset())

    def _plan(self, cls: type[Model]) -> Callable[[Model], Hashable]:
        redact: Callable[[Model], Model] | None = self._redactor if self._redactor.touches(cls) else None
        matcher = self._matcher
        if matcher is not None:
            if redact is None:
                return matcher
            return lambda request: matcher(redact(request))
        ignored = self.ignored(cls)
        if ignored:
            kept = tuple(name for name in _field_names(cls) if name not in ignored)

            def without_ignored(request: Model) -> Hashable:
                if redact is not None:
                    request = redact(request)
                return tuple(getattr(request, name) for name in kept)

            return without_ignored
        if redact is not None:
            return redact
        # Frozen attrs models are hashable and compare by value: the request is its own key.
        return _identity

    def key(self, operation_name: str, request: Model) -> Hashable:
        """The matching key of ``request``; equal keys match."""
        plan = self._plans.get(type(request))
        if plan is None:
            plan = self._plans[type(request)] = self._plan(type(request))
        key = plan(request)
        try:
            hash(key)
        except TypeError:
            raise ConfigurationError(
                f"the matcher returned an unhashable {type(key).__name__} for {operation_name}; return a tuple, "
                "a string or another hashable value"
            ) from None
        return (operation_name, key)


def _identity(request: Model) -> Hashable:
    return request


def _flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(data, dict):
        flat: dict[str, Any] = {}
        for name, value in data.items():
            flat.update(_flatten(value, f"{prefix}.{name}" if prefix else name))
        return flat if flat or not prefix else {prefix: data}
    return {prefix: data}


def describe_differences(recorded: Model, live: Model, *, skip: frozenset[str] = frozenset()) -> list[str]:
    """``field: recorded X, requested Y`` for each field in which two requests differ (``skip`` left out)."""
    old = _flatten(to_data(recorded))
    new = _flatten(to_data(live))
    differences = []
    for name in sorted(set(old) | set(new)):
        if name.split(".")[0] in skip:
            continue
        if old.get(name) != new.get(name):
            differences.append(f"{name}: recorded {_short(old.get(name))}, requested {_short(new.get(name))}")
    return differences


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def nearest(
    candidates: Sequence[tuple[int, Model, bool]], live: Model, *, skip: frozenset[str], limit: int = 3
) -> list[tuple[int, bool, list[str]]]:
    """The ``limit`` candidates ``(index, request, played)`` that differ from ``live`` in the fewest fields."""
    scored = []
    for index, request, played in candidates:
        differences = describe_differences(request, live, skip=skip)
        scored.append((len(differences), index, played, differences))
    scored.sort(key=lambda item: (item[0], item[1]))
    return [(index, played, differences) for _, index, played, differences in scored[:limit]]
