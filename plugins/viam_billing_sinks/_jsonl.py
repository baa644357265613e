"""``jsonl:PATH``: one JSON object per record, models encoded as cassettes encode them.

Every line is valid JSON (RFC 8259), which has no NaN or infinities: a float that is not finite is written as the
string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``, as protobuf's JSON mapping writes it, and
:func:`read_records` turns such a string in a float field back into the float.
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from viam_billing import OPERATIONS, ConfigurationError, DecodeError, Model, Record, Sink, from_data, to_data
from viam_billing.plugin import decode_time, encode_time, model_fields

__all__ = ["JsonlSink", "read_records", "to_json"]

_NON_FINITE = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


def to_json(data: Any, *, indent: int | None = None) -> str:
    """``data`` (as :func:`viam_billing.to_data` gives it) as strict JSON text: a float that is not finite
    becomes the string ``"NaN"``, ``"Infinity"`` or ``"-Infinity"``. One line unless ``indent`` is given.

    >>> to_json({"subtotal": float("nan"), "tax": 1.5})
    '{"subtotal":"NaN","tax":1.5}'
    """
    separators = (",", ":") if indent is None else (",", ": ")
    try:
        return json.dumps(data, ensure_ascii=False, separators=separators, indent=indent, allow_nan=False)
    except ValueError:  # rare: only then is the data walked
        return json.dumps(_finite(data), ensure_ascii=False, separators=separators, indent=indent, allow_nan=False)


def _finite(data: Any) -> Any:
    if isinstance(data, float) and not math.isfinite(data):
        return "NaN" if math.isnan(data) else ("Infinity" if data > 0 else "-Infinity")
    if isinstance(data, dict):
        return {key: _finite(value) for key, value in data.items()}
    if isinstance(data, list | tuple):
        return [_finite(value) for value in data]
    return data


def _restore_floats(cls: type[Model], data: Any) -> Any:
    """Undo :func:`to_json`'s strings for non-finite floats, in the float fields of ``cls`` (in place)."""
    if not isinstance(data, dict):
        return data
    for field in model_fields(cls):
        value = data.get(field.name)
        if field.kind == "float":
            if isinstance(value, list):
                data[field.name] = [_NON_FINITE.get(item, item) if isinstance(item, str) else item for item in value]
            elif isinstance(value, str):
                data[field.name] = _NON_FINITE.get(value, value)
        elif field.kind == "model" and value is not None:
            for item in value if isinstance(value, list) else [value]:
                _restore_floats(field.type, item)
    return data


def record_to_data(record: Record) -> dict[str, Any]:
    """One record as the JSON object the sink writes."""
    return {
        "operation": record.operation.name,
        "org_id": record.org_id,
        "fetched_at": encode_time(record.fetched_at),
        "request": to_data(record.request),
        "result": to_data(record.result),
    }


class JsonlSink(Sink):
    """Appends every record as one line of JSON to a file, or to standard output for ``jsonl:-``.

    Each line is ``{"operation", "org_id", "fetched_at", "request", "result"}``, the request and result encoded
    with :func:`viam_billing.to_data` (the cassettes' encoding) as strict JSON (see :func:`to_json` for floats
    that are not finite), so :func:`read_records` gives the records back.
    Lines are appended and flushed one record at a time: an interrupted export leaves whole lines.
    """

    def __init__(self, path: str | Path) -> None:
        text = str(path)
        if not text:
            raise ConfigurationError("jsonl sink needs a path: jsonl:PATH, or jsonl:- for standard output")
        self._path = None if text == "-" else Path(text)
        self.name = f"jsonl:{text}"
        self._file: IO[str] | None = None

    @property
    def path(self) -> Path | None:
        """The file records are appended to; ``None`` for standard output."""
        return self._path

    @classmethod
    def from_spec(cls, rest: str) -> JsonlSink:
        """Build from the text after ``jsonl:``."""
        return cls(rest)

    async def open(self) -> None:
        if self._file is not None or self._path is None:
            return
        try:
            self._path.parent.mkdir(parents=True, exist_ok=True)
            self._file = open(self._path, "a", encoding="utf-8")  # noqa: ASYNC230, SIM115 - one small open at start
        except OSError as exc:
            raise ConfigurationError(
                f"sink {self.name}: cannot open {str(self._path)!r} for appending ({exc.strerror or exc}); "
                "choose a file you can write to"
            ) from exc

    async def write(self, record: Record) -> None:
        line = to_json(record_to_data(record)) + "\n"
        if self._path is None:
            sys.stdout.write(line)
            sys.stdout.flush()
            return
        if self._file is None:
            await self.open()
        assert self._file is not None
        self._file.write(line)
        self._file.flush()

    async def aclose(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __repr__(self) -> str:
        return f"<JsonlSink {self.name}>"


def read_records(path: str | Path) -> Iterator[Record]:
    """Read back the records a :class:`JsonlSink` wrote, in order.

    Raises :class:`~viam_billing.DecodeError` naming the line for a line that does not hold a record.
    """
    with open(path, encoding="utf-8") as file:
        for number, line in enumerate(file, 1):
            if not line.strip():
                continue
            where = f"line {number}"
            try:
                data = json.loads(line)
                operation = OPERATIONS[data["operation"]]
                stored_time = data["fetched_at"]
            except (ValueError, KeyError, TypeError) as exc:
                raise DecodeError(f"not a record ({type(exc).__name__}: {exc})", path=where) from None
            fetched_at = decode_time(stored_time, f"{where}.fetched_at")
            request, result = data.get("request"), data.get("result")
            if any(f'"{name}"' in line for name in _NON_FINITE):
                request = _restore_floats(operation.request_type, request)
                result = _restore_floats(operation.response_type, result)
            yield Record(
                operation=operation,
                request=from_data(operation.request_type, request, path=f"{where}.request"),
                result=from_data(operation.response_type, result, path=f"{where}.result"),
                org_id=data.get("org_id"),
                fetched_at=fetched_at,
            )
