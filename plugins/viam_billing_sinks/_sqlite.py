"""``sqlite:PATH``: the embedded history store, with a versioned schema and migrations.

The schema version is SQLite's ``PRAGMA user_version``. Opening a database for writing runs, in order and each
in its own transaction, every migration above the version it holds, so a file written by an older viam-billing
is upgraded in place with its data. A file written by a newer version is refused rather than damaged.
:class:`History` only reads: it opens the file read-only, and reads an older one through an upgraded copy in
memory, so the file is never changed by a reader.

While the sink is open the database is in WAL mode with ``synchronous = NORMAL``: a record is still one
transaction, stored whole or not at all and safe from a crash of the process, but committing it costs no disk
flush (a power cut may lose the last ones; the next export fetches them again). Closing the sink checkpoints the
file and puts it back in the usual rollback-journal mode, one file that any SQLite reader can open read-only.

Schema version 3 (the current one)::

    usage_snapshots(id, org_id, fetched_at, start_date, end_date, subtotal, discount)
                                                    one per fetch of the month's usage; subtotal is after discounts
    usage_lines(snapshot_id, source_type, tier_name, cost_type, cost_type_name, cost)     costs before discounts
    invoices(org_id, id, invoice_date, invoice_amount, status, due_date, paid_date,
             last_payment_failure_reason, last_payment_failure_at, first_seen_at, last_seen_at)   upserted by id
    balances(org_id, fetched_at, outstanding_balance)
    billing_information(org_id, fetched_at, type, billing_email, billing_tier, payment_method)
    charges(invoice_id, org_id, operation, subtotal, tax, description, charged_at)

Times are ISO 8601 UTC strings (``2026-11-26T09:55:39.123456Z``), which sort as times.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import attrs
import viam_billing as vb
from viam_billing import ConfigurationError, Record, Sink
from viam_billing.plugin import encode_time

from ._rows import tables_for

__all__ = ["SCHEMA_VERSION", "History", "MonthlyCost", "MonthlyInvoices", "MonthlyUsage", "SqliteSink", "migrate"]

SCHEMA_VERSION = 3
"""The schema version this release writes."""

DEFAULT_DATABASE = "viam-billing.db"

T = TypeVar("T")


# --- migrations ---------------------------------------------------------------------------------------------------


def _to_v1(conn: sqlite3.Connection) -> None:
    """The first schema: usage snapshots with their lines, invoices, billing information, charges."""
    for statement in (
        """CREATE TABLE usage_snapshots (
            id INTEGER PRIMARY KEY,
            org_id TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            start_date TEXT,
            end_date TEXT,
            subtotal REAL NOT NULL,
            UNIQUE (org_id, fetched_at)
        )""",
        """CREATE TABLE usage_lines (
            snapshot_id INTEGER NOT NULL REFERENCES usage_snapshots (id) ON DELETE CASCADE,
            source_type TEXT NOT NULL,
            tier_name TEXT NOT NULL,
            resource_type TEXT NOT NULL,
            cost REAL NOT NULL
        )""",
        "CREATE INDEX usage_lines_by_snapshot ON usage_lines (snapshot_id)",
        """CREATE TABLE invoices (
            org_id TEXT NOT NULL,
            id TEXT NOT NULL,
            invoice_date TEXT,
            invoice_amount REAL NOT NULL,
            status TEXT NOT NULL,
            due_date TEXT,
            paid_date TEXT,
            last_payment_failure_reason TEXT NOT NULL,
            last_payment_failure_at TEXT,
            fetched_at TEXT NOT NULL,
            PRIMARY KEY (org_id, id)
        )""",
        """CREATE TABLE billing_information (
            org_id TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            type TEXT NOT NULL,
            billing_email TEXT NOT NULL,
            billing_tier TEXT,
            payment_method TEXT,
            PRIMARY KEY (org_id, fetched_at)
        )""",
        """CREATE TABLE charges (
            invoice_id TEXT PRIMARY KEY,
            org_id TEXT NOT NULL,
            operation TEXT NOT NULL,
            subtotal REAL NOT NULL,
            tax REAL NOT NULL,
            description TEXT,
            charged_at TEXT NOT NULL
        )""",
    ):
        conn.execute(statement)


def _enum_numbers(conn: sqlite3.Connection, column: str, cls: type[vb.OpenIntEnum]) -> dict[str, int]:
    """Map every name stored in ``usage_lines.column`` to its wire number; ValueError names one that has none."""
    numbers = {}
    for (name,) in conn.execute(f"SELECT DISTINCT {column} FROM usage_lines"):
        try:
            numbers[name] = int(cls.from_name(name))
        except ValueError:
            raise ValueError(
                f"usage_lines.{column} holds {name!r}, neither a {cls.__name__} name nor UNKNOWN_<n>"
            ) from None
    return numbers


def _to_v2(conn: sqlite3.Connection) -> None:
    """Enum numbers instead of names; first and last sighting of invoices; outstanding balances.

    Version 1 stored cost and source types by name, so a type this release did not know was stored as
    ``UNKNOWN_29`` and stayed so after an upgrade taught us its name. The wire number is the stable identity:
    lines now keep it (and the name as it was when written). Invoices now record when they were first and last
    seen, and the outstanding balance of each fetch is kept.
    """
    cost_types = _enum_numbers(conn, "resource_type", vb.UsageCostType)
    source_types = _enum_numbers(conn, "source_type", vb.SourceType)
    conn.create_function("cost_type_number", 1, cost_types.__getitem__, deterministic=True)
    conn.create_function("source_type_number", 1, source_types.__getitem__, deterministic=True)
    for statement in (
        """CREATE TABLE usage_lines_v2 (
            snapshot_id INTEGER NOT NULL REFERENCES usage_snapshots (id) ON DELETE CASCADE,
            source_type INTEGER NOT NULL,
            tier_name TEXT NOT NULL,
            cost_type INTEGER NOT NULL,
            cost_type_name TEXT NOT NULL,
            cost REAL NOT NULL
        )""",
        """INSERT INTO usage_lines_v2 (snapshot_id, source_type, tier_name, cost_type, cost_type_name, cost)
           SELECT snapshot_id, source_type_number(source_type), tier_name, cost_type_number(resource_type),
                  resource_type, cost
           FROM usage_lines ORDER BY rowid""",
        "DROP TABLE usage_lines",
        "ALTER TABLE usage_lines_v2 RENAME TO usage_lines",
        "CREATE INDEX usage_lines_by_snapshot ON usage_lines (snapshot_id)",
        "CREATE INDEX usage_snapshots_by_month ON usage_snapshots (org_id, start_date, fetched_at)",
        "ALTER TABLE invoices RENAME COLUMN fetched_at TO last_seen_at",
        "ALTER TABLE invoices ADD COLUMN first_seen_at TEXT",
        "UPDATE invoices SET first_seen_at = last_seen_at",
        """CREATE TABLE balances (
            org_id TEXT NOT NULL,
            fetched_at TEXT NOT NULL,
            outstanding_balance REAL NOT NULL,
            PRIMARY KEY (org_id, fetched_at)
        )""",
    ):
        conn.execute(statement)


def _to_v3(conn: sqlite3.Connection) -> None:
    """The discount of each usage snapshot (the sum of its sources' discounts), so that a report shows costs
    before discounts, the discounts and the subtotal, and they add up. Snapshots stored before version 3 get the
    discount their lines and subtotal imply (lines minus subtotal)."""
    conn.execute("ALTER TABLE usage_snapshots ADD COLUMN discount REAL NOT NULL DEFAULT 0")
    conn.execute(
        """UPDATE usage_snapshots SET discount = round(
               coalesce((SELECT sum(cost) FROM usage_lines WHERE snapshot_id = usage_snapshots.id), 0) - subtotal, 2)"""
    )


MIGRATIONS: dict[int, Callable[[sqlite3.Connection], None]] = {1: _to_v1, 2: _to_v2, 3: _to_v3}
"""The migration that brings a database to each version from the one before."""


def schema_version(conn: sqlite3.Connection) -> int:
    """The schema version a database holds (0 for a new, empty one)."""
    return int(conn.execute("PRAGMA user_version").fetchone()[0])


def migrate(conn: sqlite3.Connection, *, target: int = SCHEMA_VERSION, where: str = "the database") -> int:
    """Bring the database on ``conn`` (opened with ``isolation_level=None``) up to ``target`` and return the
    version it had.

    Each step runs in its own ``BEGIN IMMEDIATE`` transaction, so two processes opening the same file do not
    both migrate it, and a failed step leaves the database at the previous version. Raises
    :class:`~viam_billing.ConfigurationError` for a database written by a newer viam-billing.
    """
    found = schema_version(conn)
    if found > SCHEMA_VERSION:
        raise ConfigurationError(
            f"{where} has schema version {found}, written by a newer viam-billing (this one knows up to "
            f"{SCHEMA_VERSION}); upgrade viam-billing or use another file"
        )
    version = found
    while version < target:
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Read again inside the lock: another process may have migrated in the meantime.
            version = schema_version(conn)
            if version < target:
                MIGRATIONS[version + 1](conn)
                conn.execute(f"PRAGMA user_version = {version + 1:d}")
            conn.execute("COMMIT")
        except (ValueError, sqlite3.Error) as exc:
            conn.execute("ROLLBACK")
            raise ConfigurationError(
                f"{where} could not be upgraded from schema version {version} to {version + 1} ({exc}); "
                f"it was left at version {version}, unchanged: fix or move the file and try again"
            ) from exc
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        version = schema_version(conn)
    return found


def _connect(path: Path, sink: str) -> sqlite3.Connection:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One connection, used from worker threads one call at a time (a lock guards it).
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    except (OSError, sqlite3.Error) as exc:
        raise ConfigurationError(f"{sink}: cannot open {str(path)!r} ({exc}); choose a file you can write") from exc
    try:
        conn.execute("PRAGMA busy_timeout = 10000")
        conn.execute("PRAGMA foreign_keys = ON")
        migrate(conn, where=f"{sink}: {str(path)!r}")
        # A commit per record without a disk flush each: see the module documentation.
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ConfigurationError(
            f"{sink}: {str(path)!r} is not a usable SQLite database ({exc}); choose another file"
        ) from exc
    except BaseException:
        conn.close()
        raise
    return conn


# --- the sink -----------------------------------------------------------------------------------------------------


class SqliteSink(Sink):
    """Keeps the billing history in a SQLite database: the default store of ``viam-billing export``.

    Spec: ``sqlite:PATH`` (``sqlite:`` alone means ``viam-billing.db`` in the working directory). Opening
    creates or migrates the database (see the module documentation for the schema) and fails early, naming the
    file, when it cannot be written. Usage is kept as a snapshot per organization and fetch time with its cost
    lines; invoices are upserted by organization and id, so exporting again never duplicates one; billing
    information and outstanding balances are kept per fetch; charges by invoice id. Other operations are not
    stored.

    Database work runs in a worker thread, so the event loop is never blocked. A record is stored whole or not
    at all, and is committed when :meth:`write` returns. Records written at the same time (an export of many
    organizations) share one trip to the thread and one transaction, each record in a savepoint of its own: one
    that fails is rolled back alone and its ``write`` raises, the others are kept.
    """

    def __init__(self, path: str | Path = "") -> None:
        self._path = Path(str(path) or DEFAULT_DATABASE)
        self.name = f"sqlite:{self._path}"
        self._conn: sqlite3.Connection | None = None
        self._lock = threading.Lock()
        self._queue: list[_Pending] = []
        self._flushing = False
        self._flushed: anyio.Event | None = None

    @classmethod
    def from_spec(cls, rest: str) -> SqliteSink:
        """Build from the text after ``sqlite:``."""
        return cls(rest)

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    async def open(self) -> None:
        if self._conn is None:
            self._conn = await anyio.to_thread.run_sync(_connect, self._path, self.name)

    async def _run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        if self._conn is None:
            await self.open()
        conn = self._conn
        assert conn is not None

        def locked() -> T:
            with self._lock:
                return work(conn)

        return await anyio.to_thread.run_sync(locked)

    async def write(self, record: Record) -> None:
        if record.operation.name not in _HANDLERS:
            return
        if self._conn is None:
            await self.open()
        entry = _Pending(record)
        self._queue.append(entry)
        try:
            while not entry.done:
                if self._flushing and self._flushed is not None:
                    await self._flushed.wait()
                else:
                    await self._flush()
        except BaseException:
            if entry in self._queue:  # cancelled before its turn: it is not stored
                self._queue.remove(entry)
            raise
        if entry.error is not None:
            raise entry.error

    async def _flush(self) -> None:
        """Store every record waiting, in one transaction in the worker thread."""
        self._flushing, self._flushed = True, anyio.Event()
        batch, self._queue = self._queue, []
        try:
            await self._run(lambda conn: _store_all(conn, batch))
        except BaseException:
            # Not stored (cancelled before the thread took it, or the commit failed): their writers try again.
            self._queue[:0] = [entry for entry in batch if not entry.done]
            raise
        finally:
            self._flushing = False
            self._flushed.set()

    async def aclose(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:

            def close() -> None:
                with self._lock:
                    try:
                        _leave_wal(conn)
                    finally:
                        conn.close()

            with anyio.CancelScope(shield=True):
                await anyio.to_thread.run_sync(close)

    def __repr__(self) -> str:
        return f"<SqliteSink {self.name}>"


def _leave_wal(conn: sqlite3.Connection) -> None:
    """Checkpoint and return to a rollback journal, unless another connection still has the file open (then the
    last one to close does it)."""
    conn.execute("PRAGMA busy_timeout = 0")
    with contextlib.suppress(sqlite3.OperationalError):  # "database is locked": another writer is still at work
        conn.execute("PRAGMA journal_mode = DELETE")


@attrs.define(eq=False)
class _Pending:
    """A record waiting to be stored, and how that went."""

    record: Record
    done: bool = False
    error: Exception | None = None


def _store_all(conn: sqlite3.Connection, batch: Sequence[_Pending]) -> None:
    """Store ``batch`` in one transaction, each record in a savepoint; mark each done, with its error if any."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for entry in batch:
            conn.execute("SAVEPOINT record")
            try:
                _HANDLERS[entry.record.operation.name](conn, entry.record)
            except Exception as exc:  # this record alone is undone; the caller of its write() gets the error
                conn.execute("ROLLBACK TO record")
                entry.error = exc
            conn.execute("RELEASE record")
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise
    for entry in batch:
        entry.done = True


def _rows(record: Record, name: str) -> list[tuple[Any, ...]]:
    return [row for table in tables_for(record) if table.name == name for row in table.rows]


def _store_usage(conn: sqlite3.Connection, record: Record) -> None:
    ((org, fetched, start, end, subtotal),) = _rows(record, "usage")
    result = record.result
    assert isinstance(result, vb.GetCurrentMonthUsageResponse)
    cursor = conn.execute(
        # Only the same snapshot seen again is skipped: OR IGNORE would also drop, silently, a row the schema
        # refuses (a NaN subtotal is NULL to SQLite), which must fail the record instead.
        "INSERT INTO usage_snapshots (org_id, fetched_at, start_date, end_date, subtotal, discount) "
        "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, fetched_at) DO NOTHING",
        (org, fetched, start, end, subtotal, _discounts(result)),
    )
    if cursor.rowcount == 0:  # the same record written twice: the snapshot and its lines are there already
        return
    snapshot = cursor.lastrowid
    conn.executemany(
        "INSERT INTO usage_lines (snapshot_id, source_type, tier_name, cost_type, cost_type_name, cost) "
        "VALUES (?, ?, ?, ?, ?, ?)",
        [
            (snapshot, int(source.source_type), source.tier_name, int(line.resource_type), line.resource_type.name,
             line.cost)
            for source in result.resource_usage_costs_by_source
            for line in (source.resource_usage_costs.usage_costs if source.resource_usage_costs else ())
        ],
    )  # fmt: skip


def _discounts(usage: vb.GetCurrentMonthUsageResponse) -> float:
    """The sum of the sources' discounts, in cents."""
    costs = [source.resource_usage_costs for source in usage.resource_usage_costs_by_source]
    return round(sum(c.discount for c in costs if c is not None), 2)


def _store_invoices(conn: sqlite3.Connection, record: Record) -> None:
    result = record.result
    assert isinstance(result, vb.GetInvoicesSummaryResponse)
    rows = _rows(record, "invoices")
    conn.executemany(
        """INSERT INTO invoices (org_id, id, invoice_date, invoice_amount, status, due_date, paid_date,
                                 last_payment_failure_reason, last_payment_failure_at, first_seen_at, last_seen_at)
           VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT (org_id, id) DO UPDATE SET
               invoice_date = excluded.invoice_date,
               invoice_amount = excluded.invoice_amount,
               status = excluded.status,
               due_date = excluded.due_date,
               paid_date = excluded.paid_date,
               last_payment_failure_reason = excluded.last_payment_failure_reason,
               last_payment_failure_at = excluded.last_payment_failure_at,
               last_seen_at = max(invoices.last_seen_at, excluded.last_seen_at)""",
        [(org, *rest, fetched, fetched) for (org, fetched, *rest) in rows],
    )
    conn.execute(
        "INSERT OR REPLACE INTO balances (org_id, fetched_at, outstanding_balance) VALUES (?, ?, ?)",
        (record.org_id, encode_time(record.fetched_at), result.outstanding_balance),
    )


def _store_billing_information(conn: sqlite3.Connection, record: Record) -> None:
    result = record.result
    assert isinstance(result, vb.GetOrgBillingInformationResponse)
    data = vb.to_data(result)
    method = {key: data[key] for key in ("method", "method_us_bank_account") if data[key] is not None}
    conn.execute(
        "INSERT OR REPLACE INTO billing_information "
        "(org_id, fetched_at, type, billing_email, billing_tier, payment_method) VALUES (?, ?, ?, ?, ?, ?)",
        (record.org_id, encode_time(record.fetched_at), data["type"], result.billing_email, result.billing_tier,
         json.dumps(method) if method else None),
    )  # fmt: skip


def _store_charge(conn: sqlite3.Connection, record: Record) -> None:
    ((org, fetched, operation, invoice_id, subtotal, tax, description),) = _rows(record, "charges")
    conn.execute(
        "INSERT INTO charges (invoice_id, org_id, operation, subtotal, tax, description, charged_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (invoice_id) DO NOTHING",
        (invoice_id, org, operation, subtotal, tax, description, fetched),
    )


_HANDLERS: dict[str, Callable[[sqlite3.Connection, Record], None]] = {
    "GetCurrentMonthUsage": _store_usage,
    "GetInvoicesSummary": _store_invoices,
    "GetOrgBillingInformation": _store_billing_information,
    "ChargeOrganization": _store_charge,
    "CreateInvoiceAndChargeImmediately": _store_charge,
}
"""How each stored operation's record is written (inside a transaction the caller holds)."""


# --- reading the history --------------------------------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class MonthlyCost:
    """The cost of one cost type in one month (``"2026-11"``), summed over the organizations asked for."""

    month: str
    cost_type: vb.UsageCostType
    cost: float


@attrs.frozen(kw_only=True)
class MonthlyUsage:
    """One month's usage, summed over the organizations asked for, from each one's latest snapshot of it.

    ``before_discounts`` is the sum of the cost lines (what :class:`MonthlyCost` rows add up to), ``discounts``
    the discounts (a positive amount) and ``subtotal`` the service's subtotals, after discounts and before tax.
    ``partial`` is true when a snapshot was taken before its month ended: usage so far, as of ``as_of`` (the
    latest fetch time, ISO 8601). ``organizations`` counts those with a snapshot of the month.
    """

    month: str
    before_discounts: float
    discounts: float
    subtotal: float
    partial: bool
    as_of: str
    organizations: int


@attrs.frozen(kw_only=True)
class MonthlyInvoices:
    """The invoices dated in one month: how many, their total amount, and how much of it is not paid."""

    month: str
    count: int
    amount: float
    unpaid: float


class History:
    """Reads a history database written by :class:`SqliteSink` (blocking calls; use it from a thread in async
    code). Use it as a context manager, or call :meth:`close`.

    The file is opened read-only and never written, not even to upgrade it: a database of an older schema is
    read through an upgraded copy in memory. Raises :class:`~viam_billing.ConfigurationError` when the file does
    not exist, cannot be read, is not a history database, or was written by a newer viam-billing.
    """

    def __init__(self, path: str | Path) -> None:
        self._path = Path(path)
        if not self._path.is_file():
            raise ConfigurationError(
                f"there is no billing history at {str(self._path)!r}; run `viam-billing export` first "
                "(or pass the database's path)"
            )
        self._conn = _open_for_reading(self._path)

    def __enter__(self) -> History:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the database. Calling it twice is harmless."""
        self._conn.close()

    @property
    def path(self) -> Path:
        """The database file."""
        return self._path

    def organizations(self) -> list[str]:
        """Every organization with usage or invoices in the history, sorted."""
        rows = self._conn.execute(
            "SELECT org_id FROM usage_snapshots UNION SELECT org_id FROM invoices ORDER BY 1"
        ).fetchall()
        return [row[0] for row in rows]

    def monthly_costs(self, org_ids: Iterable[str] = ()) -> list[MonthlyCost]:
        """Cost per month and cost type, from the latest usage snapshot of each organization in each month.

        ``org_ids`` limits the sum to those organizations (all when empty). Sorted by month, then cost type.
        """
        where, params = _org_filter(org_ids, "org_id")
        rows = self._conn.execute(
            f"""WITH latest AS (
                    SELECT org_id, substr(start_date, 1, 7) AS month, max(fetched_at) AS fetched_at
                    FROM usage_snapshots WHERE start_date IS NOT NULL {where}
                    GROUP BY org_id, month)
                SELECT latest.month, line.cost_type, sum(line.cost)
                FROM latest
                JOIN usage_snapshots AS snap
                    ON snap.org_id = latest.org_id AND snap.fetched_at = latest.fetched_at
                JOIN usage_lines AS line ON line.snapshot_id = snap.id
                GROUP BY latest.month, line.cost_type
                ORDER BY latest.month, line.cost_type""",
            params,
        ).fetchall()
        return [MonthlyCost(month=m, cost_type=vb.UsageCostType(t), cost=float(c)) for m, t, c in rows]

    def monthly_usage(self, org_ids: Iterable[str] = ()) -> list[MonthlyUsage]:
        """Usage per month before discounts, discounts and subtotal, sorted by month; ``org_ids`` as for
        :meth:`monthly_costs`, whose rows of a month add up to its ``before_discounts``."""
        where, params = _org_filter(org_ids, "org_id")
        rows = self._conn.execute(
            f"""WITH latest AS (
                    SELECT org_id, substr(start_date, 1, 7) AS month, max(fetched_at) AS fetched_at
                    FROM usage_snapshots WHERE start_date IS NOT NULL {where}
                    GROUP BY org_id, month)
                SELECT latest.month,
                       coalesce(sum((SELECT sum(cost) FROM usage_lines WHERE snapshot_id = snap.id)), 0),
                       sum(snap.discount), sum(snap.subtotal),
                       max(snap.end_date IS NOT NULL AND snap.fetched_at < snap.end_date),
                       max(snap.fetched_at), count(*)
                FROM latest
                JOIN usage_snapshots AS snap
                    ON snap.org_id = latest.org_id AND snap.fetched_at = latest.fetched_at
                GROUP BY latest.month ORDER BY latest.month""",
            params,
        ).fetchall()
        return [
            MonthlyUsage(month=m, before_discounts=round(b, 2), discounts=round(d, 2), subtotal=round(s, 2),
                         partial=bool(p), as_of=a, organizations=n)
            for m, b, d, s, p, a, n in rows
        ]  # fmt: skip

    def monthly_invoices(self, org_ids: Iterable[str] = ()) -> list[MonthlyInvoices]:
        """Invoices per month of their date, sorted by month; ``org_ids`` as for :meth:`monthly_costs`."""
        where, params = _org_filter(org_ids, "org_id")
        rows = self._conn.execute(
            f"""SELECT substr(invoice_date, 1, 7) AS month, count(*), sum(invoice_amount),
                       sum(CASE WHEN status = 'paid' THEN 0 ELSE invoice_amount END)
                FROM invoices WHERE invoice_date IS NOT NULL {where}
                GROUP BY month ORDER BY month""",
            params,
        ).fetchall()
        return [MonthlyInvoices(month=m, count=n, amount=float(a), unpaid=float(u)) for m, n, a, u in rows]


def _open_for_reading(path: Path) -> sqlite3.Connection:
    """``path`` opened read-only at the current schema: the file itself, or an upgraded copy of it in memory."""
    where = f"history: {str(path)!r}"
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, check_same_thread=False)
    except sqlite3.Error as exc:
        raise ConfigurationError(f"{where} cannot be opened for reading ({exc}); check its permissions") from exc
    try:
        reading = _at_current_schema(conn, where)
    except sqlite3.DatabaseError as exc:
        conn.close()
        raise ConfigurationError(f"{where} is not a usable SQLite database ({exc}); choose another file") from exc
    except BaseException:
        conn.close()
        raise
    if reading is not conn:
        conn.close()
    return reading


def _at_current_schema(conn: sqlite3.Connection, where: str) -> sqlite3.Connection:
    found = schema_version(conn)
    if found == 0:
        raise ConfigurationError(f"{where} holds no billing history; pass the database `export` wrote")
    if found >= SCHEMA_VERSION:
        migrate(conn, where=where)  # refuses a file of a newer version; nothing to do at the current one
        return conn
    # Older: upgrade a copy, never the file (a reader may not even be allowed to write it).
    copy = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
    try:
        conn.backup(copy)
        migrate(copy, where=f"{where} (an upgraded copy in memory; the file is not changed)")
    except BaseException:
        copy.close()
        raise
    return copy


def _org_filter(org_ids: Iterable[str], column: str) -> tuple[str, Sequence[str]]:
    chosen = list(org_ids)
    if not chosen:
        return "", ()
    return f"AND {column} IN ({', '.join('?' for _ in chosen)})", chosen
