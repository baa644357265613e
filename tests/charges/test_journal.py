"""The journal file: its schema and version, its lock, and refusing files that are not journals."""

from __future__ import annotations

import sqlite3

import pytest
from viam_billing.charges import (
    APPLICATION_ID,
    SCHEMA_VERSION,
    ChargePlan,
    Journal,
    JournalError,
    JournalLockedError,
    LineState,
)

PLAN = ChargePlan.parse("org_id,subtotal,tax,description\norg-a,10,1,Support\n", period="2026-11")


def test_a_new_journal_is_sqlite_in_wal_mode_with_its_id_and_version(tmp_path):
    path = tmp_path / "j.db"
    Journal(path).close()
    with sqlite3.connect(path) as conn:
        assert conn.execute("PRAGMA application_id").fetchone()[0] == APPLICATION_ID
        assert conn.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        tables = {row[0] for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert tables == {"runs", "lines", "events"}


def test_a_second_opening_is_refused_while_the_first_is_open(tmp_path):
    path = tmp_path / "j.db"
    with Journal(path):
        with pytest.raises(JournalLockedError, match=r"is in use by another charge-plan run .*; wait for it to finish"):
            Journal(path)
        with pytest.raises(JournalLockedError):
            Journal(path, read_only=True)
    with Journal(path) as again:  # released on close
        assert again.entries() == ()


def test_one_journal_object_runs_one_plan_at_a_time(tmp_path):
    with (
        Journal(tmp_path / "j.db") as journal,
        journal._run(PLAN, retry_unknown=False),
        pytest.raises(JournalLockedError, match="in use by another run in this process"),
    ):
        journal._run(PLAN, retry_unknown=False).__enter__()


def test_recording_a_run_plans_its_lines_and_keeps_an_audit_trail(tmp_path):
    line = PLAN.lines[0]
    with Journal(tmp_path / "j.db") as journal:
        with journal._run(PLAN, retry_unknown=False) as run_id:
            entry = journal._sending(line, PLAN.period, run_id)
            assert (entry.state, entry.attempts) == (LineState.SENDING, 1)
            assert entry.first_intent_at == entry.intent_at is not None
            journal._settle(line.key, LineState.CHARGED, "charged: the service answered", run_id, "inv-1")
        entry = journal.entry(line.key)
        assert entry is not None
        assert (entry.state, entry.invoice_id, entry.total_cents, entry.period) == (LineState.CHARGED, "inv-1", 1100,
                                                                                   "2026-11")  # fmt: skip
        assert [event.state for event in journal.events(line.key)] == ["planned", "sending", "charged"]
        assert journal.claimed_invoices() == {"inv-1"}
        assert journal.periods() == {"2026-11"}
    with sqlite3.connect(tmp_path / "j.db") as conn:
        (result,) = conn.execute("SELECT result FROM runs").fetchone()
    assert result == "finished"


def test_an_invoice_is_recorded_for_one_line_only(tmp_path):
    plan = ChargePlan.parse("org_id,subtotal,tax,description\norg-a,1,0,a\norg-a,1,0,b\n", period="2026-11")
    with Journal(tmp_path / "j.db") as journal, journal._run(plan, retry_unknown=False) as run_id:
        first, second = plan.lines
        journal._settle(first.key, LineState.CHARGED, "x", run_id, "inv-1")
        with pytest.raises(sqlite3.IntegrityError):
            journal._settle(second.key, LineState.CHARGED, "x", run_id, "inv-1")
        assert journal.entry(second.key).state == LineState.PLANNED  # the failed change left nothing behind


def test_a_read_only_journal_that_does_not_exist_is_empty_and_not_created(tmp_path):
    path = tmp_path / "missing.db"
    with Journal(path, read_only=True) as journal:
        assert journal.entries() == ()
        with pytest.raises(JournalError, match="opened read-only"), journal._run(PLAN, retry_unknown=False):
            pass
    assert not path.exists()


def test_another_sqlite_database_is_not_taken_for_a_journal(tmp_path):
    path = tmp_path / "viam-billing.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE invoices (id TEXT)")
    with pytest.raises(JournalError, match=r"is not a charge journal \(a SQLite database with the tables invoices\)"):
        Journal(path)
    with sqlite3.connect(path) as conn:  # and it was not changed
        assert conn.execute("PRAGMA application_id").fetchone()[0] == 0


def test_a_file_that_is_not_sqlite_is_refused(tmp_path):
    path = tmp_path / "plan.csv"
    path.write_text("org_id,subtotal,tax,description\n" * 200)
    with pytest.raises(JournalError, match="is not a charge journal"):
        Journal(path)


def test_a_journal_from_a_newer_version_is_refused(tmp_path):
    path = tmp_path / "j.db"
    Journal(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(JournalError, match="written by a newer viam-billing"):
        Journal(path)
