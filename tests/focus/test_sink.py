"""The ``focus`` sink on real files: the FOCUS 1.2 columns and rows, CSV and Parquet, re-runs, atomic writes."""

from __future__ import annotations

import csv
import importlib.util
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import viam_billing as vb
from viam_billing_focus import COLUMNS, FOCUS_COLUMNS, FocusSink, focus_rows, service_of
from viam_billing_grpc.emulator import ACME_ORG_ID, GLOBEX_ORG_ID, Emulator

from .conftest import NOV_1, T, make_usage, org_usage

FETCHED = datetime(2026, 11, 16, 8, 30, 15, 250_000, tzinfo=timezone.utc)
ORG, FRAGMENT = vb.SourceType.SOURCE_TYPE_ORG, vb.SourceType.SOURCE_TYPE_FRAGMENT
USAGE = make_usage(
    [
        (
            ORG,
            "pro",
            [(T.USAGE_COST_TYPE_REMOTE_CONTROL, 12.4), (99, 4.44), (T.USAGE_COST_TYPE_PER_MACHINE, 0.0)],
            10.0,
        ),
        (FRAGMENT, "fragment-standard", [(T.USAGE_COST_TYPE_PREMIUM_MODULE, 15.0)], 0.0),
    ]
)  # subtotal 21.84


def record(usage: vb.GetCurrentMonthUsageResponse = USAGE, org: str = "org-1", at: datetime = FETCHED) -> vb.Record:
    return vb.Record(
        operation=vb.OPERATIONS["GetCurrentMonthUsage"],
        request=vb.GetCurrentMonthUsageRequest(org_id=org),
        result=usage,
        org_id=org,
        fetched_at=at,
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as file:
        reader = csv.DictReader(file)
        assert tuple(reader.fieldnames or ()) == COLUMNS
        return list(reader)


def read_rows(path: Path) -> list[dict[str, Any]]:
    """The dataset's rows as strings, whichever the format, to compare files by content."""
    if path.suffix == ".csv":
        return read_csv(path)
    table = pq.read_table(path)
    assert tuple(table.column_names) == COLUMNS
    return [{k: _text(v) for k, v in row.items()} for row in table.to_pylist()]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, float):
        return repr(value)
    return str(value)


async def write_all(sink: FocusSink, *records: vb.Record) -> None:
    async with sink:
        for item in records:
            await sink.write(item)


# --- the rows --------------------------------------------------------------------------------------------------------


def test_one_usage_row_per_cost_line_and_one_credit_row_per_discount():
    rows = focus_rows(USAGE, org_id="org-1", fetched_at=FETCHED)
    assert [(r["ChargeCategory"], r["ServiceName"], r["BilledCost"]) for r in rows] == [
        ("Usage", "Remote Control", 12.4),
        ("Usage", "Cost Type 99", 4.44),
        ("Usage", "Per Machine", 0.0),
        ("Credit", "Discount", -10.0),
        ("Usage", "Premium Module", 15.0),
    ]
    assert round(sum(r["BilledCost"] for r in rows), 2) == USAGE.subtotal
    for row in rows:
        assert list(row) == list(COLUMNS)
        assert row["BilledCost"] == row["EffectiveCost"] == row["ListCost"] == row["ContractedCost"]
        assert (row["ProviderName"], row["PublisherName"], row["InvoiceIssuerName"]) == ("Viam", "Viam", "Viam")
        assert (row["BillingAccountId"], row["BillingAccountName"], row["BillingCurrency"]) == ("org-1", "org-1", "USD")
        assert (row["ChargeClass"], row["InvoiceId"], row["SubAccountId"]) == (None, None, None)
        assert row["ChargeFrequency"] == "Usage-Based"


def test_periods_are_utc_whole_seconds_with_exclusive_ends():
    row = focus_rows(USAGE, org_id="org-1", fetched_at=FETCHED)[0]
    assert row["BillingPeriodStart"] == row["ChargePeriodStart"] == NOV_1
    assert row["BillingPeriodEnd"] == datetime(2026, 12, 1, tzinfo=timezone.utc)
    # The figures are the month so far: the charge period ends at the fetch, rounded up to a whole second.
    assert row["ChargePeriodEnd"] == datetime(2026, 11, 16, 8, 30, 16, tzinfo=timezone.utc)
    assert row["x_ViamFetchedAt"] == datetime(2026, 11, 16, 8, 30, 15, tzinfo=timezone.utc)
    late = focus_rows(USAGE, org_id="org-1", fetched_at=datetime(2027, 1, 3, tzinfo=timezone.utc))[0]
    assert late["ChargePeriodEnd"] == late["BillingPeriodEnd"]  # never past the billing period


def test_unknown_cost_types_are_exported_as_other():
    unknown = focus_rows(USAGE, org_id="org-1", fetched_at=FETCHED)[1]
    assert (unknown["x_ViamCostTypeId"], unknown["x_ViamCostTypeName"]) == (99, "UNKNOWN_99")
    assert (unknown["ServiceCategory"], unknown["ServiceSubcategory"]) == ("Other", "Other (Other)")
    assert "a cost type this version does not know" in unknown["ChargeDescription"]


# ServiceCategory and ServiceSubcategory pairs of the FOCUS 1.2 allowed-values table (those the mapping may use).
SPEC_PAIRS = {
    ("AI and Machine Learning", "Machine Learning"),
    ("Analytics", "Data Processing"),
    ("Compute", "Other (Compute)"),
    ("Databases", "Other (Databases)"),
    ("Developer Tools", "Other (Developer Tools)"),
    ("Integration", "Messaging"),
    ("Internet of Things", "IoT Platforms"),
    ("Management and Governance", "Observability"),
    ("Networking", "Other (Networking)"),
    ("Other", "Other (Other)"),
    ("Storage", "Object Storage"),
    ("Storage", "Other (Storage)"),
}


def test_every_cost_type_has_one_service_and_a_category_pair_from_the_specification():
    names: dict[str, tuple[str, str]] = {}
    for member in [*vb.UsageCostType, vb.UsageCostType(99)]:
        name, category, subcategory = service_of(member)
        assert (category, subcategory) in SPEC_PAIRS, member
        assert names.setdefault(name, (category, subcategory)) == (category, subcategory)  # one category per name
    assert len(names) == len(vb.UsageCostType) + 1
    assert service_of(vb.UsageCostType.USAGE_COST_TYPE_UNSPECIFIED)[1:] == ("Other", "Other (Other)")


def test_viam_columns_carry_source_tier_and_position():
    rows = focus_rows(USAGE, org_id="org-1", fetched_at=FETCHED)
    fragment = rows[-1]
    assert (fragment["x_ViamSourceType"], fragment["x_ViamTierName"], fragment["x_ViamSourceIndex"]) == (
        "SOURCE_TYPE_FRAGMENT", "fragment-standard", 1,
    )  # fmt: skip
    credit = rows[3]
    assert (credit["x_ViamSourceType"], credit["x_ViamCostTypeId"], credit["PricingQuantity"]) == (
        "SOURCE_TYPE_ORG", None, None,
    )  # fmt: skip
    assert (rows[0]["PricingQuantity"], rows[0]["PricingUnit"]) == (1.0, "Units")
    assert [c for c in COLUMNS if c not in FOCUS_COLUMNS] == [c for c in COLUMNS if c.startswith("x_")]


def test_a_cost_that_is_not_a_number_is_refused_naming_the_field():
    broken = org_usage([(T.USAGE_COST_TYPE_REMOTE_CONTROL, float("nan"))])
    with pytest.raises(vb.DecodeError, match=r"usage_costs\[0\]\.cost"):
        focus_rows(broken, org_id="org-1", fetched_at=FETCHED)


# --- the files -------------------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_csv_file(tmp_path):
    path = tmp_path / "out" / "focus.csv"  # the folder is made
    await write_all(FocusSink(path), record())
    rows = read_csv(path)
    assert len(rows) == 5
    first = rows[0]
    assert first["BilledCost"] == "12.4"
    assert rows[2]["BilledCost"] == "0.0"  # a decimal even when whole, so readers never take it for an integer
    assert rows[3]["BilledCost"] == "-10.0"
    assert first["BillingPeriodStart"] == "2026-11-01T00:00:00Z"
    assert first["ChargePeriodEnd"] == "2026-11-16T08:30:16Z"
    assert first["InvoiceId"] == first["ChargeClass"] == first["SubAccountName"] == ""  # null
    assert path.read_bytes().startswith(b"BilledCost,BillingAccountId,")
    assert b"\r\n" in path.read_bytes()


@pytest.mark.anyio
async def test_parquet_file_has_typed_columns_and_the_csv_rows(tmp_path):
    await write_all(FocusSink(tmp_path / "focus.parquet"), record())
    await write_all(FocusSink(tmp_path / "focus.csv"), record())
    schema = pq.read_schema(tmp_path / "focus.parquet")
    assert schema.field("BilledCost").type == pa.float64()
    assert schema.field("BillingPeriodStart").type == pa.timestamp("us", tz="UTC")
    assert schema.field("x_ViamCostTypeId").type == pa.int64()
    assert schema.field("ServiceName").type == pa.string()
    parquet, text = read_rows(tmp_path / "focus.parquet"), read_rows(tmp_path / "focus.csv")
    assert parquet == text


@pytest.mark.anyio
@pytest.mark.parametrize("suffix", ["csv", "parquet"])
async def test_running_again_replaces_the_organizations_rows_for_the_period(tmp_path, suffix):
    path = tmp_path / f"focus.{suffix}"
    later = FETCHED + timedelta(days=2)
    grown = org_usage([(T.USAGE_COST_TYPE_REMOTE_CONTROL, 20.0)])
    october = org_usage([(T.USAGE_COST_TYPE_REMOTE_CONTROL, 7.0)], start=datetime(2026, 10, 1, tzinfo=timezone.utc),
                        end=datetime(2026, 10, 31, 23, 59, 59, tzinfo=timezone.utc))  # fmt: skip
    await write_all(FocusSink(path), record(), record(org="org-2"), record(october, at=NOV_1 - timedelta(days=1)))
    # A second run, in a sink of its own as a new process would have: org-1's November again, grown.
    await write_all(FocusSink(path), record(grown, at=later))
    rows = read_rows(path)
    per_key = Counter((r["BillingAccountId"], r["BillingPeriodStart"]) for r in rows)
    assert per_key == {
        ("org-1", "2026-11-01T00:00:00Z"): 1,
        ("org-2", "2026-11-01T00:00:00Z"): 5,
        ("org-1", "2026-10-01T00:00:00Z"): 1,
    }
    november = next(
        r for r in rows if r["BillingAccountId"] == "org-1" and r["BillingPeriodStart"].startswith("2026-11")
    )
    assert float(november["BilledCost"]) == 20.0
    assert november["x_ViamFetchedAt"] == "2026-11-18T08:30:15Z"


@pytest.mark.anyio
async def test_a_month_without_usage_removes_the_rows_it_had(tmp_path):
    path = tmp_path / "focus.csv"
    await write_all(FocusSink(path), record(), record(org="org-2"))
    await write_all(FocusSink(path), record(make_usage([])))
    assert {r["BillingAccountId"] for r in read_csv(path)} == {"org-2"}


@pytest.mark.anyio
async def test_records_other_than_usage_are_ignored(tmp_path):
    path = tmp_path / "focus.csv"
    invoices = vb.Record(
        operation=vb.OPERATIONS["GetInvoicesSummary"],
        request=vb.GetInvoicesSummaryRequest(org_id="o"),
        result=vb.GetInvoicesSummaryResponse(),
        org_id="o",
        fetched_at=FETCHED,
    )
    await write_all(FocusSink(path), invoices)
    assert not path.exists()


@pytest.mark.anyio
async def test_records_arriving_quickly_are_written_together_and_always_by_closing(tmp_path):
    path = tmp_path / "focus.csv"
    sink = FocusSink(path, flush_interval=3600)
    async with sink:
        await sink.write(record(org="org-1"))  # the first is written at once
        assert {r["BillingAccountId"] for r in read_csv(path)} == {"org-1"}
        await sink.write(record(org="org-2"))  # within the interval: kept for later
        assert {r["BillingAccountId"] for r in read_csv(path)} == {"org-1"}
    assert {r["BillingAccountId"] for r in read_csv(path)} == {"org-1", "org-2"}


@pytest.mark.anyio
async def test_a_failed_write_leaves_the_old_file_whole_and_no_temporary_file(tmp_path, monkeypatch):
    path = tmp_path / "focus.parquet"
    await write_all(FocusSink(path), record())
    before = path.read_bytes()

    def broken(table: Any, where: Any, **kwargs: Any) -> None:
        where.write(b"PAR1 half a file")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(pq, "write_table", broken)
    sink = FocusSink(path)
    async with vb.BillingClient(vb.MockTransport(lambda op, req: USAGE), sinks=[sink]) as billing:
        with pytest.raises(vb.SinkError) as raised:
            await billing.get_current_month_usage("org-2")
    assert "No space left on device" in str(raised.value.failures[sink.name])
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["focus.parquet"]


@pytest.mark.anyio
async def test_a_file_of_another_layout_is_never_overwritten(tmp_path):
    path = tmp_path / "focus.csv"
    path.write_bytes(b"date,amount\r\n2026-11-01,5\r\n")
    with pytest.raises(vb.ConfigurationError, match="move it away"):
        await FocusSink(path).open()
    assert path.read_bytes() == b"date,amount\r\n2026-11-01,5\r\n"
    (tmp_path / "bad.parquet").write_bytes(b"not parquet")
    with pytest.raises(vb.ConfigurationError, match="cannot be kept and added to"):
        await FocusSink(tmp_path / "bad.parquet").open()


@pytest.mark.anyio
async def test_a_folder_or_an_unwritable_place_is_refused_when_the_sink_opens(tmp_path):
    with pytest.raises(vb.ConfigurationError, match="is a folder"):
        await FocusSink(tmp_path).open()
    (tmp_path / "file").write_text("x")
    with pytest.raises(vb.ConfigurationError, match="cannot write in"):
        await FocusSink(tmp_path / "file" / "focus.csv").open()
    with pytest.raises(vb.ConfigurationError, match="focus:PATH"):
        FocusSink("")


def test_parquet_without_pyarrow_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "pyarrow" else real(name, *a))
    with pytest.raises(vb.ConfigurationError) as raised:
        vb.get_registry().create_sink("focus:costs.parquet")
    assert "pip install 'viam-billing[parquet]'" in str(raised.value)
    assert FocusSink("costs.csv").format == "csv"  # CSV needs nothing more


def test_the_sink_is_found_by_its_entry_point():
    sink = vb.get_registry().create_sink("focus:viam.parquet")
    assert isinstance(sink, FocusSink)
    assert (sink.name, sink.format, sink.path) == ("focus:viam.parquet", "parquet", Path("viam.parquet"))
    plugins = {info.name: info for info in vb.list_plugins() if info.kind == "sink"}
    assert plugins["focus"].module == "viam_billing_focus"


# --- from the emulator -----------------------------------------------------------------------------------------------


@pytest.mark.anyio
async def test_every_seeded_organization_from_the_emulator(tmp_path):
    paths = [tmp_path / "viam.csv", tmp_path / "viam.parquet"]
    sinks = [f"focus:{p}" for p in paths]
    async with Emulator() as emulator, vb.connect(**emulator.connect_options(), sinks=sinks) as billing:
        subtotals = {org: (await billing.get_current_month_usage(org)).subtotal for org in emulator.org_ids}
    rows = read_rows(paths[0])
    assert read_rows(paths[1]) == rows
    for org, subtotal in subtotals.items():
        assert round(sum(float(r["BilledCost"]) for r in rows if r["BillingAccountId"] == org), 2) == subtotal
    unknown = [r for r in rows if r["x_ViamCostTypeName"] == "UNKNOWN_99"]
    assert [(r["BillingAccountId"], r["BilledCost"]) for r in unknown] == [(GLOBEX_ORG_ID, "4.44")]
    acme_credits = [
        r["BilledCost"] for r in rows if r["BillingAccountId"] == ACME_ORG_ID and r["ChargeCategory"] == "Credit"
    ]
    assert acme_credits == ["-10.0", "-1.3"]


def test_export_with_the_focus_sink(cli, emulator, tmp_path):
    code, _, err = cli("export", "--org", ACME_ORG_ID, "--org", GLOBEX_ORG_ID, "--sink", "focus:finops/viam.csv")
    assert code == 0, err
    rows = read_csv(tmp_path / "finops" / "viam.csv")
    assert {r["BillingAccountId"] for r in rows} == {ACME_ORG_ID, GLOBEX_ORG_ID}
    code, _, err = cli("export", "--org", ACME_ORG_ID, "--sink", "focus:finops/viam.csv")  # again: no duplicates
    assert code == 0, err
    assert len(read_csv(tmp_path / "finops" / "viam.csv")) == len(rows)
