"""``jsonl:PATH``: one JSON object per record, models encoded as cassettes encode them."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from viam_billing import OPERATIONS, ConfigurationError, DecodeError, Record, Sink, from_data, to_data
from viam_billing.plugin import decode_time, encode_time

__all__ = ["JsonlSink", "read_records"]


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
    with :func:`viam_billing.to_data` (the cassettes' encoding), so :func:`read_records` gives the records back.
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
        line = json.dumps(record_to_data(record), ensure_ascii=False, separators=(",", ":")) + "\n"
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
            yield Record(
                operation=operation,
                request=from_data(operation.request_type, data.get("request"), path=f"{where}.request"),
                result=from_data(operation.response_type, data.get("result"), path=f"{where}.result"),
                org_id=data.get("org_id"),
                fetched_at=fetched_at,
            )
