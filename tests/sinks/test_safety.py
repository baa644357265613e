"""What the sinks write is safe to read back: strict JSON, CSV no spreadsheet runs, no stale temporary files, a
history a reader never changes, and one bad record never costing the others."""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import math
import os
import sqlite3
import time
from datetime import datetime, timezone

import anyio
import pytest
import viam_billing as vb
import viam_billing_sinks as sinks

NOW = datetime(2026, 11, 20, tzinfo=timezone.utc)


def _record(result: vb.Model, request: vb.Model, org: str | None = "org-1") -> vb.Record:
    return vb.Record(operation=vb.OPERATIONS.for_request(request), request=request, result=result, org_id=org,
                     fetched_at=NOW)  # fmt: skip


def _strict(line: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(line, parse_constant=refuse)


@pytest.mark.anyio
async def test_json_lines_hold_non_finite_numbers_as_strings_and_read_them_back(tmp_path):
    usage = vb.GetCurrentMonthUsageResponse(
        subtotal=math.nan,
        resource_usage_costs_by_source=(
            vb.ResourceUsageCostsBySource(resource_usage_costs=vb.ResourceUsageCosts(
                usage_costs=(vb.UsageCost(cost=math.inf),), discount=-math.inf)),
        ),
    )  # fmt: skip
    path = tmp_path / "r.jsonl"
    sink = sinks.JsonlSink(path)
    await sink.write(_record(usage, vb.GetCurrentMonthUsageRequest(org_id="org-1")))
    await sink.aclose()
    (line,) = path.read_text().splitlines()
    data = _strict(line)
    assert data["result"]["subtotal"] == "NaN"
    costs = data["result"]["resource_usage_costs_by_source"][0]["resource_usage_costs"]
    assert (costs["usage_costs"][0]["cost"], costs["discount"]) == ("Infinity", "-Infinity")
    (back,) = sinks.read_records(path)
    assert math.isnan(back.result.subtotal)
    back_costs = back.result.resource_usage_costs_by_source[0].resource_usage_costs
    assert (back_costs.usage_costs[0].cost, back_costs.discount) == (math.inf, -math.inf)
    assert sinks.to_json({"a": 1.5, "b": [math.nan]}) == '{"a":1.5,"b":["NaN"]}'


def test_a_text_cell_that_starts_like_a_formula_is_escaped_and_numbers_are_not():
    cells = ['=HYPERLINK("http://x")', "+1", "-2+3", "@SUM(A1)", "\tx", "\rx", "plain", "", -50.0, 3, None]
    assert [sinks.spreadsheet_safe(c) for c in cells] == [
        "'=HYPERLINK(\"http://x\")", "'+1", "'-2+3", "'@SUM(A1)", "'\tx", "'\rx", "plain", "", -50.0, 3, None
    ]  # fmt: skip


@pytest.mark.anyio
async def test_the_csv_sink_escapes_formulas_and_its_usage_lines_add_up_to_the_subtotal(tmp_path):
    sink = sinks.CsvSink(tmp_path)
    await sink.open()
    charge = vb.ChargeOrganizationRequest(org_id_to_charge="org-1", subtotal=5.0, description="=1+2")
    await sink.write(_record(vb.ChargeOrganizationResponse(invoice_id="@inv"), charge))
    line = vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_PER_MACHINE, cost=60.0)
    usage = vb.GetCurrentMonthUsageResponse(subtotal=50.0, resource_usage_costs_by_source=(
        vb.ResourceUsageCostsBySource(resource_usage_costs=vb.ResourceUsageCosts(usage_costs=(line,), discount=10.0)),
    ))  # fmt: skip
    await sink.write(_record(usage, vb.GetCurrentMonthUsageRequest(org_id="org-1")))
    await sink.aclose()
    (row,) = csv.DictReader(io.StringIO((tmp_path / "charges.csv").read_text()))
    assert (row["description"], row["invoice_id"]) == ("'=1+2", "'@inv")
    lines = list(csv.DictReader(io.StringIO((tmp_path / "usage_lines.csv").read_text())))
    assert [(r["resource_type"], r["cost"]) for r in lines] == [
        ("USAGE_COST_TYPE_PER_MACHINE", "60.0"), (sinks.DISCOUNT, "-10.0")
    ]  # fmt: skip
    assert sum(float(r["cost"]) for r in lines) == usage.subtotal


@pytest.mark.anyio
async def test_opening_a_pdf_sink_removes_its_stale_temporary_downloads_only(tmp_path):
    org = tmp_path / "org-1"
    org.mkdir()
    stale, young = org / ".inv-1.pdf.a1b2c3d4.part", org / ".inv-2.pdf.e5f6g7h8.part"
    others = [org / "inv-1.pdf", org / ".notes.txt.part", tmp_path / "keep.part"]
    for path in (stale, young, *others):
        path.write_bytes(b"%PDF-")
    day_and_a_bit = time.time() - sinks.STALE_AFTER - 60
    for path in (stale, *others):
        os.utime(path, (day_and_a_bit, day_and_a_bit))
    await sinks.PdfSink(tmp_path).open()
    assert not stale.exists()
    assert young.exists()
    assert all(path.exists() for path in others)


def _usage(subtotal: float) -> vb.GetCurrentMonthUsageResponse:
    return vb.GetCurrentMonthUsageResponse(start_date=NOW, end_date=NOW, subtotal=subtotal)


@pytest.mark.anyio
async def test_records_written_together_are_stored_but_a_bad_one_fails_alone(tmp_path):
    db = tmp_path / "h.db"
    sink = sinks.SqliteSink(db)
    await sink.open()
    outcomes: dict[str, BaseException | None] = {}

    async def write(org: str, subtotal: float) -> None:
        try:
            await sink.write(_record(_usage(subtotal), vb.GetCurrentMonthUsageRequest(org_id=org), org))
            outcomes[org] = None
        except Exception as exc:
            outcomes[org] = exc

    async with anyio.create_task_group() as group:
        for n in range(20):
            # A NaN subtotal is NULL to SQLite, which the schema refuses: that record's write fails, loudly.
            group.start_soon(write, f"org-{n}", math.nan if n == 7 else float(n))
    with contextlib.closing(sqlite3.connect(db)) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # while the sink is open
    await sink.aclose()
    assert isinstance(outcomes.pop("org-7"), sqlite3.IntegrityError)
    assert set(outcomes.values()) == {None}
    with sqlite3.connect(db) as conn:
        stored = {org for (org,) in conn.execute("SELECT org_id FROM usage_snapshots")}
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)  # one plain file once closed
    assert stored == {f"org-{n}" for n in range(20)} - {"org-7"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db"]


def test_history_reads_an_older_database_without_changing_it(tmp_path):
    db = tmp_path / "h.db"
    conn = sqlite3.connect(db, isolation_level=None)
    sinks.migrate(conn, target=2)
    conn.execute(
        "INSERT INTO usage_snapshots (id, org_id, fetched_at, start_date, end_date, subtotal) "
        "VALUES (1, 'org-old', '2026-10-15T00:00:00Z', '2026-10-01T00:00:00Z', '2026-10-31T23:59:59Z', 7.0)"
    )
    conn.execute(
        "INSERT INTO usage_lines (snapshot_id, source_type, tier_name, cost_type, cost_type_name, cost) "
        "VALUES (1, 1, 'free', 4, 'USAGE_COST_TYPE_STANDARD_COMPUTE', 9.0)"
    )
    conn.close()
    db.chmod(0o444)
    before = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns)
    with sinks.History(db) as history:
        (month,) = history.monthly_usage()
    assert (month.month, month.before_discounts, month.discounts, month.subtotal) == ("2026-10", 9.0, 2.0, 7.0)
    assert month.partial  # fetched on the 15th: usage so far
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns) == before
    with sqlite3.connect(db) as check:
        assert check.execute("PRAGMA user_version").fetchone() == (2,)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["h.db"]


def test_history_refuses_a_database_of_something_else(tmp_path):
    db = tmp_path / "other.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE t (x)")
    with pytest.raises(vb.ConfigurationError, match="holds no billing history"):
        sinks.History(db)
