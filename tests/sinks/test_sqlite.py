"""The SQLite history store: what it keeps, idempotent re-exports, migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import viam_billing as vb
import viam_billing_sinks as sinks

pytestmark = pytest.mark.anyio


def _count(db: Path, table: str) -> int:
    with sqlite3.connect(db) as conn:
        return int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


async def test_export_stores_usage_lines_invoices_and_billing_information(tmp_path, make_client, export_once):
    db = tmp_path / "history.db"
    async with make_client([f"sqlite:{db}"]) as client:
        await export_once(client)
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == sinks.SCHEMA_VERSION == 3
        assert conn.execute("SELECT org_id, subtotal FROM usage_snapshots").fetchall() == [("org-1", 42.5)]
        lines = conn.execute(
            "SELECT source_type, tier_name, cost_type, cost_type_name, cost FROM usage_lines"
        ).fetchall()
        assert lines == [(1, "pro", 3, "USAGE_COST_TYPE_REMOTE_CONTROL", 30.0), (1, "pro", 99, "UNKNOWN_99", 12.5)]
        invoices = conn.execute("SELECT id, status, invoice_amount FROM invoices ORDER BY id").fetchall()
        assert invoices == [("../../escape", "outstanding", 15.0), ("inv-1", "paid", 20.0)]
        assert conn.execute("SELECT outstanding_balance FROM balances").fetchall() == [(15.0,)]
        info = conn.execute("SELECT type, billing_email, payment_method FROM billing_information").fetchone()
        assert info[:2] == ("PAYMENT_METHOD_TYPE_CARD", "billing@example.com")
        assert '"last_four_digits": "4242"' in info[2]


async def test_exporting_again_never_duplicates_an_invoice(tmp_path, make_client, export_once):
    db = tmp_path / "history.db"
    for _ in range(3):
        async with make_client([f"sqlite:{db}"]) as client:
            await export_once(client)
    assert _count(db, "invoices") == 2
    # Usage is history: each export is a snapshot of its own, yet the month's cost is counted once.
    assert _count(db, "usage_snapshots") == 3
    with sinks.History(db) as history:
        costs = history.monthly_costs()
    assert [(c.month, int(c.cost_type), c.cost) for c in costs] == [("2026-11", 3, 30.0), ("2026-11", 99, 12.5)]


async def test_an_invoice_seen_again_is_updated_and_keeps_its_first_sighting(tmp_path, make_client):
    db = tmp_path / "history.db"
    status = {"value": "outstanding"}

    def on_call(operation, request):
        invoice = vb.InvoiceSummary(id="inv-9", invoice_amount=5.0, status=status["value"])
        return vb.GetInvoicesSummaryResponse(invoices=(invoice,))

    async with make_client([f"sqlite:{db}"], on_call) as client:
        await client.get_invoices_summary("org-1")
        status["value"] = "paid"
        await client.get_invoices_summary("org-1")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT status, first_seen_at < last_seen_at FROM invoices").fetchall()
    assert rows == [("paid", 1)]


async def test_charges_are_kept_once_per_invoice(tmp_path, make_client):
    db = tmp_path / "history.db"
    async with make_client([f"sqlite:{db}"]) as client:
        await client.charge_organization("org-1", 10.0, 0.8, "support")
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT invoice_id, org_id, subtotal, tax, description FROM charges").fetchall()
    assert rows == [("inv-charged", "org-1", 10.0, 0.8, "support")]


def _v1_database(path: Path) -> None:
    """A database as version 1 of the schema left it, holding data."""
    conn = sqlite3.connect(path, isolation_level=None)
    sinks.migrate(conn, target=1)
    conn.execute(
        "INSERT INTO usage_snapshots (id, org_id, fetched_at, start_date, end_date, subtotal) "
        "VALUES (1, 'org-old', '2026-10-15T00:00:00Z', '2026-10-01T00:00:00Z', '2026-11-01T00:00:00Z', 7.0)"
    )
    conn.executemany(
        "INSERT INTO usage_lines (snapshot_id, source_type, tier_name, resource_type, cost) VALUES (?, ?, ?, ?, ?)",
        [
            (1, "SOURCE_TYPE_ORG", "free", "USAGE_COST_TYPE_STANDARD_COMPUTE", 4.0),
            # Written when the release did not know number 27 (a premium module): only its number survived.
            (1, "SOURCE_TYPE_FRAGMENT", "free", "UNKNOWN_27", 3.0),
        ],
    )
    conn.execute(
        "INSERT INTO invoices (org_id, id, invoice_date, invoice_amount, status, last_payment_failure_reason, "
        "fetched_at) VALUES ('org-old', 'inv-old', '2026-10-01T00:00:00Z', 7.0, 'paid', '', '2026-10-15T00:00:00Z')"
    )
    conn.close()


async def test_a_version_1_database_with_data_is_migrated_in_place(tmp_path, make_client, export_once):
    db = tmp_path / "history.db"
    _v1_database(db)
    async with make_client([f"sqlite:{db}"]) as client:
        await export_once(client, "org-old")
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        # Version 3 keeps each snapshot's discount; older snapshots get what their lines and subtotal imply.
        assert conn.execute("SELECT discount FROM usage_snapshots WHERE id = 1").fetchone() == (0.0,)
        old_lines = conn.execute(
            "SELECT source_type, cost_type, cost_type_name, cost FROM usage_lines WHERE snapshot_id = 1"
        ).fetchall()
        assert old_lines == [(1, 4, "USAGE_COST_TYPE_STANDARD_COMPUTE", 4.0), (2, 27, "UNKNOWN_27", 3.0)]
        first_seen = conn.execute("SELECT first_seen_at FROM invoices WHERE id = 'inv-old'").fetchone()
        assert first_seen == ("2026-10-15T00:00:00Z",)
    with sinks.History(db) as history:
        costs = {(c.month, c.cost_type.name): c.cost for c in history.monthly_costs()}
        assert history.organizations() == ["org-old"]
    # Today's enum knows 27, so the old line now reads with its name.
    assert costs[("2026-10", "USAGE_COST_TYPE_PREMIUM_MODULE")] == 3.0
    assert costs[("2026-11", "USAGE_COST_TYPE_REMOTE_CONTROL")] == 30.0


async def test_a_failed_migration_leaves_the_previous_version(tmp_path, make_client):
    db = tmp_path / "history.db"
    _v1_database(db)
    conn = sqlite3.connect(db)
    conn.execute(
        "INSERT INTO usage_lines (snapshot_id, source_type, tier_name, resource_type, cost) "
        "VALUES (1, 'SOURCE_TYPE_ORG', 'free', 'NOT_A_COST_TYPE', 1.0)"
    )
    conn.commit()
    conn.close()
    with pytest.raises(
        vb.ConfigurationError, match=r"from schema version 1 to 2 .*'NOT_A_COST_TYPE'.*left at version 1"
    ):
        async with make_client([f"sqlite:{db}"]):
            pass
    with sqlite3.connect(db) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT count(*) FROM usage_lines").fetchone()[0] == 3


async def test_a_database_from_a_newer_version_is_refused_untouched(tmp_path, make_client):
    db = tmp_path / "history.db"
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 9")
    with pytest.raises(vb.ConfigurationError, match=r"schema version 9.*newer viam-billing"):
        async with make_client([f"sqlite:{db}"]):
            pass


async def test_an_unusable_database_is_reported_when_the_sink_opens(tmp_path, make_client):
    db = tmp_path / "history.db"
    db.write_bytes(b"this is not a database, just text" * 100)
    calls = []

    def on_call(operation, request):
        calls.append(operation.name)
        raise AssertionError("nothing may be fetched")

    with pytest.raises(vb.ConfigurationError, match="not a usable SQLite database"):
        async with make_client([f"sqlite:{db}"], on_call) as client:
            await client.get_current_month_usage("org-1")
    assert calls == []


def test_history_of_a_missing_file_says_to_export_first(tmp_path):
    with pytest.raises(vb.ConfigurationError, match="run `viam-billing export` first"):
        sinks.History(tmp_path / "nope.db")
    assert not (tmp_path / "nope.db").exists()


async def test_monthly_invoices_sum_amounts_and_unpaid(tmp_path, make_client, export_once):
    db = tmp_path / "history.db"
    async with make_client([f"sqlite:{db}"]) as client:
        await export_once(client)
    with sinks.History(db) as history:
        months = [(m.month, m.count, m.amount, m.unpaid) for m in history.monthly_invoices()]
        assert months == [("2026-09", 1, 20.0, 0.0), ("2026-10", 1, 15.0, 15.0)]
        assert history.monthly_invoices(["someone-else"]) == []


async def test_concurrent_writes_from_many_organizations_all_land(tmp_path, make_client, export_once):
    import anyio

    db = tmp_path / "history.db"
    async with make_client([f"sqlite:{db}"]) as client, anyio.create_task_group() as tg:
        for n in range(8):
            tg.start_soon(export_once, client, f"org-{n}")
    assert _count(db, "usage_snapshots") == 8
    assert _count(db, "invoices") == 16
