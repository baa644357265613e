"""The charge journal: a SQLite file recording, per idempotency key, what was attempted and what came of it.

Every change is its own transaction, committed with ``synchronous=FULL`` before the code goes on: the intent of
a charge is on disk before the request is sent, and its outcome as soon as it is known. The file is held with
an exclusive lock for as long as a :class:`Journal` is open, so that two runs never share one journal. The
lock is the operating system's (SQLite's file locks), so a process killed with ``kill -9`` releases it.
"""

from __future__ import annotations

import enum
import os
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ._charges_plan import ChargeLine, dollars
from ._errors import BillingError

if TYPE_CHECKING:
    from ._charges_plan import ChargePlan

__all__ = [
    "APPLICATION_ID",
    "SCHEMA_VERSION",
    "Journal",
    "JournalEntry",
    "JournalError",
    "JournalEvent",
    "JournalLockedError",
    "LineState",
]

SCHEMA_VERSION = 1
"""The journal schema this version writes (SQLite ``PRAGMA user_version``)."""
APPLICATION_ID = int.from_bytes(b"VBCJ", "big")
"""SQLite ``PRAGMA application_id`` of a charge journal, telling it apart from any other SQLite file."""

_SCHEMA = """
CREATE TABLE runs (
    id INTEGER PRIMARY KEY,
    started_at TEXT NOT NULL,
    finished_at TEXT,
    period TEXT NOT NULL,
    plan TEXT NOT NULL,
    plan_sha256 TEXT NOT NULL,
    retry_unknown INTEGER NOT NULL,
    pid INTEGER NOT NULL,
    result TEXT
);
CREATE TABLE lines (
    key TEXT PRIMARY KEY,
    period TEXT NOT NULL,
    org_id TEXT NOT NULL,
    subtotal_cents INTEGER NOT NULL CHECK (subtotal_cents >= 0),
    tax_cents INTEGER NOT NULL CHECK (tax_cents >= 0),
    description TEXT,
    org_id_for_branding TEXT,
    disable_confirmation_email INTEGER NOT NULL CHECK (disable_confirmation_email IN (0, 1)),
    state TEXT NOT NULL CHECK (state IN ('planned', 'sending', 'charged', 'failed', 'unknown')),
    invoice_id TEXT,
    detail TEXT,
    attempts INTEGER NOT NULL DEFAULT 0,
    first_intent_at TEXT,
    intent_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE UNIQUE INDEX lines_one_line_per_invoice ON lines (invoice_id) WHERE invoice_id IS NOT NULL;
CREATE INDEX lines_by_org ON lines (org_id, state);
CREATE TABLE events (
    id INTEGER PRIMARY KEY,
    run_id INTEGER REFERENCES runs (id),
    key TEXT NOT NULL REFERENCES lines (key),
    at TEXT NOT NULL,
    state TEXT NOT NULL,
    invoice_id TEXT,
    detail TEXT
);
CREATE INDEX events_by_key ON events (key, id);
"""

_LINE_COLUMNS = (
    "key, period, org_id, subtotal_cents, tax_cents, description, org_id_for_branding, disable_confirmation_email, "
    "state, invoice_id, detail, attempts, first_intent_at, intent_at, updated_at"
)


class LineState(enum.StrEnum):
    """Where a journal line stands. Only ``charged`` is final; the others say what the next run does.

    ``planned``: recorded from a plan, never sent. ``sending``: the intent was committed and the charge may have
    gone out; its outcome was never recorded (the run was killed or cancelled), so the next run reconciles it.
    ``charged``: done, with the invoice id. ``failed``: the service refused it, or it could not be sent; it was
    certainly not charged and the next run tries again. ``unknown``: it may have been charged and no invoice
    proves it; it is looked for again on every run and sent again only with ``retry_unknown``.
    """

    PLANNED = "planned"
    SENDING = "sending"
    CHARGED = "charged"
    FAILED = "failed"
    UNKNOWN = "unknown"


class JournalError(BillingError):
    """Raised when a journal cannot be used: not a charge journal, written by a newer version, or unreadable."""

    def __init__(self, message: str, *, path: str) -> None:
        super().__init__(message)
        self.path = path


class JournalLockedError(JournalError):
    """Raised when another run (in this process or another) has the journal open: two runs on one journal could
    each charge a line the other has not recorded yet."""


@dataclass(frozen=True, kw_only=True, slots=True)
class JournalEntry:
    """A journal line: the charge last attempted (or planned) under ``key``, and where it stands.

    The amounts and the other fields are those of the last attempt, which reconciliation looks for.
    ``first_intent_at`` is when the first attempt was committed (reconciliation looks for invoices from then
    on), ``intent_at`` the last; ``detail`` says why the line is in its state (the service's message, what
    reconciliation found).
    """

    key: str
    period: str
    org_id: str
    subtotal_cents: int
    tax_cents: int
    description: str | None
    org_id_for_branding: str | None
    disable_confirmation_email: bool
    state: LineState
    invoice_id: str | None
    detail: str | None
    attempts: int
    first_intent_at: datetime | None
    intent_at: datetime | None
    updated_at: datetime

    @property
    def total_cents(self) -> int:
        return self.subtotal_cents + self.tax_cents

    def differences(self, line: ChargeLine) -> list[str]:
        """What ``line`` changes in this charge, as ``"subtotal $100.00 -> $110.00"``; empty when nothing."""
        pairs: list[tuple[str, object, object]] = [
            ("organization", self.org_id, line.org_id),
            ("subtotal", dollars(self.subtotal_cents), dollars(line.subtotal_cents)),
            ("tax", dollars(self.tax_cents), dollars(line.tax_cents)),
            ("description", self.description, line.description),
            ("org_id_for_branding", self.org_id_for_branding, line.org_id_for_branding),
            ("disable_confirmation_email", self.disable_confirmation_email, line.disable_confirmation_email),
        ]
        return [f"{name} {_shown(old)} -> {_shown(new)}" for name, old, new in pairs if old != new]


@dataclass(frozen=True, kw_only=True, slots=True)
class JournalEvent:
    """One change of a line's state, for the audit trail: when, by which run, to what, and why."""

    run_id: int | None
    key: str
    at: datetime
    state: LineState
    invoice_id: str | None
    detail: str | None


class Journal:
    """The journal of charge plans in the SQLite file at ``path`` (created if missing).

    Open it with ``with Journal(path) as journal:``; it stays locked for this object alone until closed, and a
    second opening, from this process or another, raises :class:`JournalLockedError`. ``read_only=True`` opens
    it to look (a dry run): nothing can be recorded, a missing file is read as empty and is not created, and a
    journal in use by a run is refused the same way. Raises :class:`JournalError` for a file that is not a charge
    journal (another SQLite database, say) or that a newer viam-billing wrote.

    The journal calls are blocking and short (one small transaction, flushed to disk); :func:`run_plan` makes
    them from the event loop, between its network calls.
    """

    def __init__(self, path: str | os.PathLike[str], *, read_only: bool = False) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self._in_run = False
        self._conn = self._open()

    # -- opening -------------------------------------------------------------------------------------------------

    def _open(self) -> sqlite3.Connection:
        where = str(self.path)
        if self.read_only and (not self.path.exists() or self.path.stat().st_size == 0):
            conn = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
            conn.executescript(_SCHEMA)
            return conn
        try:
            if self.read_only:
                conn = sqlite3.connect(
                    f"{self.path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None, timeout=0,
                    check_same_thread=False,
                )  # fmt: skip
            else:
                # timeout=0: a journal in use is refused at once, never waited for.
                conn = sqlite3.connect(where, isolation_level=None, timeout=0, check_same_thread=False)
        except sqlite3.Error as exc:
            raise JournalError(f"cannot open the journal {where}: {exc}", path=where) from exc
        try:
            if self.read_only:
                self._check(conn, create=False)
            else:
                # Held from the first transaction until close(): the lock that keeps a second run out.
                conn.execute("PRAGMA locking_mode = EXCLUSIVE")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = FULL")
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("BEGIN EXCLUSIVE")
                try:
                    self._check(conn, create=True)
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            conn.close()
            if "locked" in str(exc) or "busy" in str(exc):
                raise JournalLockedError(
                    f"the journal {where} is in use by another charge-plan run (or another program has it open); "
                    "wait for it to finish: two runs on one journal could both charge a line",
                    path=where,
                ) from exc
            raise JournalError(f"cannot use the journal {where}: {exc}", path=where) from exc
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise JournalError(
                f"{where} is not a charge journal ({exc}); give another path for the journal", path=where
            ) from exc
        except BaseException:
            conn.close()
            raise
        return conn

    def _check(self, conn: sqlite3.Connection, *, create: bool) -> None:
        where = str(self.path)
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        if application_id != APPLICATION_ID:
            if tables or application_id != 0:
                raise JournalError(
                    f"{where} is not a charge journal (a SQLite database with the tables {', '.join(tables)}); "
                    "give another path for the journal",
                    path=where,
                )
            if not create:
                raise JournalError(f"{where} is an empty database, not a charge journal", path=where)
            # One statement at a time, inside the caller's transaction (executescript would commit it first):
            # a journal is created whole or not at all.
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID:d}")
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION:d}")
            return
        if version > SCHEMA_VERSION:
            raise JournalError(
                f"the journal {where} has schema version {version}, written by a newer viam-billing (this one "
                f"knows up to {SCHEMA_VERSION}); upgrade viam-billing to use it",
                path=where,
            )
        # Version 1 is the first: migrations from older versions go here, each in this same transaction.

    # -- life ----------------------------------------------------------------------------------------------------

    def close(self) -> None:
        """Release the journal (and its lock). Everything recorded is already on disk."""
        self._conn.close()

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Journal {str(self.path)!r}{' read-only' if self.read_only else ''}>"

    # -- reading -------------------------------------------------------------------------------------------------

    def entry(self, key: str) -> JournalEntry | None:
        """The line recorded under ``key``, or ``None``."""
        row = self._conn.execute(f"SELECT {_LINE_COLUMNS} FROM lines WHERE key = ?", (key,)).fetchone()
        return None if row is None else _entry(row)

    def entries(self) -> tuple[JournalEntry, ...]:
        """Every line, in the order first recorded."""
        return tuple(_entry(row) for row in self._conn.execute(f"SELECT {_LINE_COLUMNS} FROM lines ORDER BY rowid"))

    def periods(self) -> frozenset[str]:
        """The billing periods the journal holds lines of."""
        return frozenset(row[0] for row in self._conn.execute("SELECT DISTINCT period FROM lines"))

    def events(self, key: str | None = None) -> tuple[JournalEvent, ...]:
        """The audit trail, oldest first: every state a line (or every line) went through."""
        sql = "SELECT run_id, key, at, state, invoice_id, detail FROM events"
        rows = self._conn.execute(f"{sql} ORDER BY id" if key is None else f"{sql} WHERE key = ? ORDER BY id",
                                  () if key is None else (key,))  # fmt: skip
        return tuple(
            JournalEvent(run_id=r[0], key=r[1], at=_time(r[2]), state=LineState(r[3]), invoice_id=r[4], detail=r[5])
            for r in rows
        )

    def claimed_invoices(self) -> frozenset[str]:
        """The invoice ids recorded for a line: an invoice is never recorded for a second line."""
        return frozenset(row[0] for row in self._conn.execute("SELECT invoice_id FROM lines WHERE invoice_id NOT NULL"))

    def unsettled(self, org_id: str | None = None) -> tuple[JournalEntry, ...]:
        """The lines that may have been charged without proof (``sending`` or ``unknown``), first attempts first."""
        sql = f"SELECT {_LINE_COLUMNS} FROM lines WHERE state IN ('sending', 'unknown')"
        if org_id is not None:
            sql += " AND org_id = ?"
        rows = self._conn.execute(sql + " ORDER BY first_intent_at, rowid", () if org_id is None else (org_id,))
        return tuple(_entry(row) for row in rows)

    # -- recording (for run_plan) --------------------------------------------------------------------------------

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        if self.read_only:
            raise JournalError(f"the journal {self.path} was opened read-only", path=str(self.path))
        conn = self._conn
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                if conn.in_transaction:  # SQLite may have rolled back already (a full disk, say)
                    conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")
        except sqlite3.IntegrityError:
            raise  # a broken rule of the schema (one line per invoice): the caller's to handle
        except sqlite3.Error as exc:
            raise JournalError(
                f"cannot record in the journal {self.path}: {exc}. Nothing more is sent; a line left 'sending' is "
                "looked for among its organization's invoices by the next run",
                path=str(self.path),
            ) from exc

    @contextmanager
    def _run(self, plan: ChargePlan, *, retry_unknown: bool) -> Iterator[int]:
        """Record a run of ``plan`` and its lines (new keys as ``planned``); yield the run's id.

        A planned line takes the plan's content (it was never sent); a line with attempts keeps the content
        of its last attempt, which is what reconciliation must look for.
        """
        if self._in_run:
            raise JournalLockedError(
                f"the journal {self.path} is in use by another run in this process", path=str(self.path)
            )
        self._in_run = True
        try:
            now = _now()
            with self._write() as conn:
                run_id = conn.execute(
                    "INSERT INTO runs (started_at, period, plan, plan_sha256, retry_unknown, pid) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (now, plan.period, plan.source, plan.sha256, int(retry_unknown), os.getpid()),
                ).lastrowid
                assert run_id is not None
                for line in plan.lines:
                    self._plan_line(conn, line, plan.period, run_id, now)
            result = "interrupted"
            try:
                yield run_id
                result = "finished"
            except Exception as exc:
                result = f"ended by an error: {exc}"
                raise
            finally:
                with self._write() as conn:
                    conn.execute("UPDATE runs SET finished_at = ?, result = ? WHERE id = ?", (_now(), result, run_id))
        finally:
            self._in_run = False

    def _plan_line(self, conn: sqlite3.Connection, line: ChargeLine, period: str, run_id: int, now: str) -> None:
        content = _content(line)
        inserted = conn.execute(
            "INSERT INTO lines (key, period, org_id, subtotal_cents, tax_cents, description, org_id_for_branding, "
            "disable_confirmation_email, state, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'planned', ?, ?) ON CONFLICT (key) DO NOTHING",
            (line.key, period, *content, now, now),
        ).rowcount
        if inserted:
            _event(conn, run_id, line.key, now, LineState.PLANNED, None, f"planned from line {line.line}")
            return
        conn.execute(
            "UPDATE lines SET period = ?, org_id = ?, subtotal_cents = ?, tax_cents = ?, description = ?, "
            "org_id_for_branding = ?, disable_confirmation_email = ?, updated_at = ? "
            "WHERE key = ? AND state = 'planned'",
            (period, *content, now, line.key),
        )

    def _sending(self, line: ChargeLine, period: str, run_id: int) -> JournalEntry:
        """Commit the intent to send ``line`` now; return the entry as it then stands."""
        now = _now()
        with self._write() as conn:
            conn.execute(
                "UPDATE lines SET period = ?, org_id = ?, subtotal_cents = ?, tax_cents = ?, description = ?, "
                "org_id_for_branding = ?, disable_confirmation_email = ?, state = 'sending', invoice_id = NULL, "
                "detail = NULL, attempts = attempts + 1, first_intent_at = coalesce(first_intent_at, ?), "
                "intent_at = ?, updated_at = ? WHERE key = ?",
                (period, *_content(line), now, now, now, line.key),
            )
            _event(
                conn, run_id, line.key, now, LineState.SENDING, None, f"{dollars(line.total_cents)} to {line.org_id}"
            )
        entry = self.entry(line.key)
        assert entry is not None
        return entry

    def _settle(self, key: str, state: LineState, detail: str, run_id: int, invoice_id: str | None = None) -> None:
        """Record where the line ``key`` now stands."""
        now = _now()
        with self._write() as conn:
            conn.execute(
                "UPDATE lines SET state = ?, invoice_id = ?, detail = ?, updated_at = ? WHERE key = ?",
                (state.value, invoice_id, detail, now, key),
            )
            _event(conn, run_id, key, now, state, invoice_id, detail)


def _content(line: ChargeLine) -> tuple[Any, ...]:
    return (
        line.org_id,
        line.subtotal_cents,
        line.tax_cents,
        line.description,
        line.org_id_for_branding,
        int(line.disable_confirmation_email),
    )


def _event(
    conn: sqlite3.Connection,
    run_id: int,
    key: str,
    at: str,
    state: LineState,
    invoice_id: str | None,
    detail: str | None,
) -> None:
    conn.execute(
        "INSERT INTO events (run_id, key, at, state, invoice_id, detail) VALUES (?, ?, ?, ?, ?, ?)",
        (run_id, key, at, state.value, invoice_id, detail),
    )


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _time(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _entry(row: tuple[Any, ...]) -> JournalEntry:
    return JournalEntry(
        key=row[0],
        period=row[1],
        org_id=row[2],
        subtotal_cents=row[3],
        tax_cents=row[4],
        description=row[5],
        org_id_for_branding=row[6],
        disable_confirmation_email=bool(row[7]),
        state=LineState(row[8]),
        invoice_id=row[9],
        detail=row[10],
        attempts=row[11],
        first_intent_at=None if row[12] is None else _time(row[12]),
        intent_at=None if row[13] is None else _time(row[13]),
        updated_at=_time(row[14]),
    )


def _shown(value: object) -> str:
    if value is None:
        return "(none)"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value) if isinstance(value, str) and value.startswith("$") else repr(value)
