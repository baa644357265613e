"""Charge plans: a CSV of charges, read and checked in full before anything is sent.

Amounts are kept as whole cents (``int``) from the moment they are read, so that no sum, comparison or
idempotency key ever depends on binary floating point; they become dollars (``float``) only on the wire.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from ._errors import ValidationError
from ._validate import MAX_DESCRIPTION_LENGTH

__all__ = [
    "REQUIRED_COLUMNS",
    "OPTIONAL_COLUMNS",
    "ChargeLine",
    "ChargePlan",
    "PlanError",
    "PlanProblem",
    "current_period",
    "dollars",
    "line_key",
    "check_period",
]

REQUIRED_COLUMNS = ("org_id", "subtotal", "tax", "description")
"""Columns every plan has (a description may be empty; the column may not be missing)."""
OPTIONAL_COLUMNS = ("org_id_for_branding", "disable_confirmation_email", "key")
"""Columns a plan may have."""

MAX_KEY_LENGTH = 200

_PERIOD = re.compile(r"\d{4}-(0[1-9]|1[0-2])")
_AMOUNT = re.compile(r"(?P<dollars>[0-9]+)(?:\.(?P<cents>[0-9]{1,2}))?")
_TRUE = frozenset({"true", "yes", "y", "1"})
_FALSE = frozenset({"false", "no", "n", "0", ""})
# Bumping this changes every derived key: it would make a journal's done lines look new. Never change it.
_KEY_VERSION = "viam-billing charge-plan key v1"


def dollars(cents: int) -> str:
    """Whole cents as people read dollars: ``dollars(123450) == "$1,234.50"``."""
    sign = "-" if cents < 0 else ""
    whole, rest = divmod(abs(cents), 100)
    return f"{sign}${whole:,}.{rest:02d}"


def current_period(now: datetime | None = None) -> str:
    """The billing period of ``now`` (default: this moment), as ``"YYYY-MM"`` in UTC."""
    moment = now or datetime.now(timezone.utc)
    if moment.tzinfo is not None:
        moment = moment.astimezone(timezone.utc)
    return f"{moment.year:04d}-{moment.month:02d}"


def check_period(period: object) -> str:
    """Return ``period`` if it is a ``"YYYY-MM"`` string; raise :class:`ValidationError` naming it otherwise."""
    if not isinstance(period, str) or not _PERIOD.fullmatch(period):
        raise ValidationError(f"period must be a month as YYYY-MM (like 2026-11), got {period!r}", argument="period")
    return period


def line_key(period: str, org_id: str, description: str | None) -> str:
    """The idempotency key of a plan line without a ``key`` column: ``"2026-11/<32 hex digits>"``.

    It is derived from the billing period, the organization and the description only, so that a line keeps its
    key when its amounts, branding or e-mail flag are edited: a changed amount is then caught as a change to a
    line already charged, instead of passing for a new charge. Changing the organization or the description
    makes a new line.
    """
    canonical = json.dumps([_KEY_VERSION, check_period(period), org_id, description or ""], ensure_ascii=False)
    return f"{period}/{hashlib.sha256(canonical.encode()).hexdigest()[:32]}"


@dataclass(frozen=True, kw_only=True, slots=True)
class ChargeLine:
    """One charge of a plan, checked: who is charged how much, and the key that makes it happen once.

    ``line`` is the line number in the file where the charge's row starts (the header is line 1). Amounts are
    whole cents. ``description`` and ``org_id_for_branding`` are ``None`` when the cell was empty.
    ``explicit_key`` says whether ``key`` came from the plan's ``key`` column rather than :func:`line_key`.
    """

    line: int
    key: str
    org_id: str
    subtotal_cents: int
    tax_cents: int
    description: str | None = None
    org_id_for_branding: str | None = None
    disable_confirmation_email: bool = False
    explicit_key: bool = False

    @property
    def total_cents(self) -> int:
        """Subtotal plus tax, in cents: the amount of the invoice the charge creates."""
        return self.subtotal_cents + self.tax_cents

    def charge_arguments(self) -> tuple[str, float, float, str | None, str | None, bool]:
        """The positional arguments of :meth:`BillingClient.charge_organization` for this line."""
        return (
            self.org_id,
            self.subtotal_cents / 100,
            self.tax_cents / 100,
            self.description,
            self.org_id_for_branding,
            self.disable_confirmation_email,
        )


@dataclass(frozen=True, slots=True)
class PlanProblem:
    """One thing wrong in a plan: where (``line`` of the file, ``column`` name when it is about one cell) and what."""

    line: int | None
    column: str | None
    message: str

    def __str__(self) -> str:
        where = [f"line {self.line}"] if self.line is not None else []
        if self.column is not None:
            where.append(f"column {self.column}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class PlanError(ValidationError):
    """Raised when a charge plan cannot be used; nothing was sent and the journal was not touched.

    ``problems`` lists every problem found (all of them, so that the file can be fixed in one pass), each with
    its line and column; ``source`` names the file.
    """

    def __init__(self, source: str, problems: Sequence[PlanProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        count = len(self.problems)
        heading = f"the charge plan {source} has {count} problem{'s' if count != 1 else ''}"
        super().__init__(heading + "".join(f"\n  {problem}" for problem in self.problems), argument="plan")


@dataclass(frozen=True, kw_only=True, slots=True)
class ChargePlan:
    """The charges of one billing period, read from a CSV file by :meth:`read` (or text by :meth:`parse`).

    The columns are ``org_id,subtotal,tax,description`` and optionally ``org_id_for_branding``,
    ``disable_confirmation_email`` and ``key``, in any order, with a header row. Amounts are US dollars with
    at most two decimals (``120``, ``120.5``, ``120.50``); the e-mail flag is ``true``/``false`` (also
    ``yes``/``no``, ``1``/``0``; empty is false). Example::

        org_id,subtotal,tax,description
        a1b2c3d4-...,120.00,9.60,November support

    Each line's idempotency key is its ``key`` cell if it has one, else :func:`line_key` of the period, the
    organization and the description.
    """

    lines: tuple[ChargeLine, ...]
    period: str
    source: str = "<plan>"
    sha256: str = ""
    """The SHA-256 of the file's bytes, kept in the journal with each run for the audit trail."""

    @property
    def total_cents(self) -> int:
        """What all the lines add up to, in cents."""
        return sum(line.total_cents for line in self.lines)

    @classmethod
    def read(cls, path: str | os.PathLike[str], *, period: str) -> ChargePlan:
        """Read and check the plan in the CSV file at ``path`` (UTF-8, a byte-order mark allowed) for ``period``.

        Raises :class:`PlanError` listing every problem with its line and column: a missing or unknown column,
        an empty ``org_id``, an amount that is not dollars and cents, a total under one cent, a description over
        1000 characters, two lines with one key, no lines at all. ``OSError`` when the file cannot be read.
        """
        data = Path(path).read_bytes()
        source = os.fspath(path)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            problem = PlanProblem(None, None, f"not UTF-8 text ({exc.reason} at byte {exc.start})")
            raise PlanError(source, [problem]) from None
        return cls.parse(text, period=period, source=source, sha256=hashlib.sha256(data).hexdigest())

    @classmethod
    def parse(cls, text: str, *, period: str, source: str = "<plan>", sha256: str | None = None) -> ChargePlan:
        """Check the plan in CSV ``text`` for ``period``; as :meth:`read`, for a plan that is not in a file."""
        check_period(period)
        problems: list[PlanProblem] = []
        lines = _parse_rows(text, period, problems)
        if not problems and not lines:
            problems.append(PlanProblem(None, None, "no charges: the plan has a header and no lines"))
        if problems:
            raise PlanError(source, problems)
        digest = sha256 if sha256 is not None else hashlib.sha256(text.encode()).hexdigest()
        return cls(lines=tuple(lines), period=period, source=source, sha256=digest)


def _parse_rows(text: str, period: str, problems: list[PlanProblem]) -> list[ChargeLine]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = next(reader, None)
    except csv.Error as exc:
        problems.append(PlanProblem(1, None, f"not CSV: {exc}"))
        return []
    if header is None:
        problems.append(PlanProblem(None, None, f"the file is empty; the first line must name the columns {_names()}"))
        return []
    columns = [name.strip().lower() for name in header]
    if not _check_header(columns, problems):
        return []
    lines: list[ChargeLine] = []
    first_line_of: dict[str, int] = {}
    end = reader.line_num
    while True:
        start = end + 1
        try:
            row = next(reader, None)
        except csv.Error as exc:
            problems.append(PlanProblem(start, None, f"not CSV: {exc}"))
            break
        end = reader.line_num
        if row is None:
            break
        if not any(cell.strip() for cell in row):
            continue  # a blank line
        if len(row) != len(columns):
            problems.append(PlanProblem(start, None, f"{len(row)} cells where the header has {len(columns)}"))
            continue
        line = _parse_line(start, dict(zip(columns, row, strict=True)), period, problems)
        if line is None:
            continue
        earlier = first_line_of.setdefault(line.key, line.line)
        if earlier != line.line:
            problems.append(PlanProblem(line.line, "key", _duplicate(line, earlier)))
            continue
        lines.append(line)
    return lines


def _names(names: Iterable[str] = REQUIRED_COLUMNS) -> str:
    return ",".join(names)


def _check_header(columns: list[str], problems: list[PlanProblem]) -> bool:
    known = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
    seen: set[str] = set()
    ok = True
    for name in columns:
        if name in seen:
            problems.append(PlanProblem(1, name, "the column appears twice"))
            ok = False
        seen.add(name)
        if name not in known:
            # Refused rather than ignored: a misspelt org_id_for_branding would otherwise vanish from every charge.
            problems.append(PlanProblem(1, name or "(empty)", f"unknown column; the columns are {_names(known)}"))
            ok = False
    missing = [name for name in REQUIRED_COLUMNS if name not in seen]
    if missing:
        plural = "s" if len(missing) > 1 else ""
        message = f"missing column{plural} {', '.join(missing)}; the first line must name at least {_names()}"
        problems.append(PlanProblem(1, None, message))
        ok = False
    return ok


def _parse_line(number: int, cells: dict[str, str], period: str, problems: list[PlanProblem]) -> ChargeLine | None:
    found = len(problems)

    def problem(column: str, message: str) -> None:
        problems.append(PlanProblem(number, column, message))

    org_id = cells["org_id"].strip()
    if not org_id:
        problem("org_id", "empty; every line needs the organization to charge")
    subtotal = _cents(cells["subtotal"], "subtotal", problem)
    tax = _cents(cells["tax"], "tax", problem)
    if subtotal is not None and tax is not None and subtotal + tax < 1:
        problem("subtotal", "subtotal + tax is $0.00; a charge must be at least $0.01")
    description = cells["description"].strip() or None
    if description is not None and len(description) > MAX_DESCRIPTION_LENGTH:
        problem("description", f"{len(description)} characters; the service takes at most {MAX_DESCRIPTION_LENGTH}")
    branding = cells.get("org_id_for_branding", "").strip() or None
    flag = cells.get("disable_confirmation_email", "").strip().lower()
    if flag not in _TRUE and flag not in _FALSE:
        problem("disable_confirmation_email", f"{flag!r} is not true or false (also: yes/no, 1/0, empty for false)")
    key = cells.get("key", "").strip()
    if len(key) > MAX_KEY_LENGTH:
        problem("key", f"{len(key)} characters; a key has at most {MAX_KEY_LENGTH}")
    if len(problems) > found or subtotal is None or tax is None:
        return None
    return ChargeLine(
        line=number,
        key=key or line_key(period, org_id, description),
        org_id=org_id,
        subtotal_cents=subtotal,
        tax_cents=tax,
        description=description,
        org_id_for_branding=branding,
        disable_confirmation_email=flag in _TRUE,
        explicit_key=bool(key),
    )


def _cents(cell: str, column: str, problem: Callable[[str, str], None]) -> int | None:
    text = cell.strip()
    match = _AMOUNT.fullmatch(text)
    if match is None:
        shown = repr(text) if len(text) <= 30 else repr(text[:27] + "...")
        problem(column, f"{shown} is not an amount of US dollars with at most two decimals, like 120 or 120.50")
        return None
    return int(match["dollars"]) * 100 + int((match["cents"] or "0").ljust(2, "0"))


def _duplicate(line: ChargeLine, earlier: int) -> str:
    if line.explicit_key:
        return f"the key {line.key!r} is also line {earlier}'s; each line needs its own key"
    return (
        f"same organization and description as line {earlier}, so the same key: two such charges in one period "
        "need different descriptions, or a key column telling them apart"
    )
