"""The jsonl, csv, pdf and console sinks against real files."""

from __future__ import annotations

import csv
import io
import json
import os

import pytest
import viam_billing as vb
import viam_billing_sinks as sinks
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

pytestmark = pytest.mark.anyio


# --- jsonl --------------------------------------------------------------------------------------------------------


async def test_jsonl_lines_hold_models_encoded_as_cassettes_encode_them(tmp_path, make_client, export_once, usage):
    path = tmp_path / "out" / "records.jsonl"
    async with make_client([f"jsonl:{path}"]) as client:
        await export_once(client)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [line["operation"] for line in lines] == [
        "GetCurrentMonthUsage",
        "GetInvoicesSummary",
        "GetOrgBillingInformation",
    ]
    assert lines[0]["result"] == vb.to_data(usage)
    assert lines[0]["request"] == {"org_id": "org-1"}
    assert lines[0]["org_id"] == "org-1"
    assert lines[0]["fetched_at"].endswith("Z")


async def test_jsonl_records_read_back_equal_and_runs_append(tmp_path, make_client, usage):
    path = tmp_path / "records.jsonl"
    for _ in range(2):
        async with make_client([f"jsonl:{path}"]) as client:
            await client.get_current_month_usage("org-1")
    records = list(sinks.read_records(path))
    assert len(records) == 2
    assert records[0].result == usage
    assert records[0].operation is vb.OPERATIONS["GetCurrentMonthUsage"]
    assert records[0].fetched_at.tzinfo is not None


async def test_jsonl_dash_writes_to_standard_output(make_client, capsys):
    async with make_client(["jsonl:-"]) as client:
        await client.get_available_billing_tiers()
    line = json.loads(capsys.readouterr().out)
    assert line["result"] == {"tiers": ["free", "pro"]}
    assert line["org_id"] is None


def test_jsonl_unreadable_line_is_named(tmp_path):
    path = tmp_path / "bad.jsonl"
    good = {"operation": "GetCurrentMonthUsage", "fetched_at": "2026-11-01T00:00:00Z", "request": {}, "result": {}}
    path.write_text(f"{json.dumps(good)}\nnot json\n")
    records = sinks.read_records(path)
    assert next(records).result == vb.GetCurrentMonthUsageResponse()
    with pytest.raises(vb.DecodeError, match="line 2"):
        next(records)


def test_jsonl_time_without_timezone_is_named(tmp_path):
    path = tmp_path / "naive.jsonl"
    line = {"operation": "GetCurrentMonthUsage", "fetched_at": "2026-11-01T00:00:00", "request": {}, "result": {}}
    path.write_text(f"{json.dumps(line)}\n")
    with pytest.raises(vb.DecodeError, match=r"line 1\.fetched_at: time without a timezone"):
        next(sinks.read_records(path))


# --- csv ----------------------------------------------------------------------------------------------------------


def _read_csv(path):
    with open(path, newline="") as file:
        return list(csv.reader(file))


async def test_csv_writes_one_file_per_kind_with_the_header_once(tmp_path, make_client, export_once):
    out = tmp_path / "csv"
    for _ in range(2):
        async with make_client([f"csv:{out}"]) as client:
            await export_once(client)
    assert sorted(os.listdir(out)) == ["billing_information.csv", "invoices.csv", "usage.csv", "usage_lines.csv"]
    lines = _read_csv(out / "usage_lines.csv")
    assert lines[0] == list(sinks.tables_for.__globals__["USAGE_LINE_COLUMNS"])
    assert len(lines) == 1 + 2 * 2  # the header once, two cost lines per run
    assert lines[1][4:] == ["SOURCE_TYPE_ORG", "pro", "USAGE_COST_TYPE_REMOTE_CONTROL", "30.0"]
    assert lines[2][6] == "99"  # an unknown cost type is kept as its number
    invoices = _read_csv(out / "invoices.csv")
    assert [row[2] for row in invoices[1:]] == ["inv-1", "../../escape"] * 2
    assert invoices[2][6] == ""  # no due date: an empty cell


async def test_csv_other_operations_keep_request_and_result_as_json(tmp_path, make_client):
    out = tmp_path / "csv"
    async with make_client([f"csv:{out}"]) as client:
        await client.get_available_billing_tiers()
    rows = _read_csv(out / "get_available_billing_tiers.csv")
    assert rows[0] == ["org_id", "fetched_at", "request", "result"]
    assert json.loads(rows[1][3]) == {"tiers": ["free", "pro"]}


async def test_csv_refuses_a_file_with_another_layout_before_fetching(tmp_path, make_client):
    out = tmp_path / "csv"
    out.mkdir()
    (out / "invoices.csv").write_text("id,amount\nx,1\n")
    with pytest.raises(vb.ConfigurationError, match=r"invoices\.csv.*move the file away"):
        async with make_client([f"csv:{out}"]):
            pass
    assert (out / "invoices.csv").read_text() == "id,amount\nx,1\n"


# --- pdf ----------------------------------------------------------------------------------------------------------


async def test_pdf_sink_saves_each_invoice_once_under_a_safe_name(tmp_path, make_client, pdf_bytes, sample_handler):
    out = tmp_path / "pdfs"
    pdf = sinks.PdfSink(out)
    downloads = []

    def counting(operation, request):
        downloads.append(operation.name)
        return sample_handler(operation, request)

    async with make_client([pdf], counting) as client:
        summary = await client.get_invoices_summary("org-1")
        for invoice in summary.invoices:
            assert await pdf.store_invoice_pdf(client, "org-1", invoice.id) is True
        for invoice in summary.invoices:
            assert await pdf.store_invoice_pdf(client, "org-1", invoice.id) is False
    assert downloads.count("GetInvoicePdf") == 2
    saved = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert saved == ["org-1/escape-" + sinks.safe_name("../../escape").rsplit("-", 1)[1] + ".pdf", "org-1/inv-1.pdf"]
    assert (out / "org-1" / "inv-1.pdf").read_bytes() == pdf_bytes
    assert not list(tmp_path.glob("escape*"))
    assert not (tmp_path.parent / "escape.pdf").exists()


async def test_pdf_download_failure_leaves_no_file_behind(tmp_path, make_client):
    out = tmp_path / "pdfs"
    pdf = sinks.PdfSink(out)

    def broken(operation, request):
        async def chunks():
            yield vb.GetInvoicePdfResponse(chunk=b"%PDF-partial")
            raise vb.UnavailableError("connection reset", operation=operation.name)

        return chunks()

    async with make_client([pdf], broken) as client:
        with pytest.raises(vb.UnavailableError):
            await pdf.store_invoice_pdf(client, "org-1", "inv-1")
    assert [p.name for p in out.rglob("*") if p.is_file()] == []
    assert not pdf.has("org-1", "inv-1")


async def test_pdf_record_is_saved_atomically(tmp_path, pdf_bytes):
    from datetime import datetime, timezone

    out = tmp_path / "pdfs"
    async with sinks.PdfSink(out) as pdf:
        await pdf.write(
            vb.Record(
                operation=vb.OPERATIONS["GetInvoicePdf"],
                request=vb.GetInvoicePdfRequest(id="a/b", org_id="org-1"),
                result=vb.GetInvoicePdfResponse(chunk=pdf_bytes),
                org_id="org-1",
                fetched_at=datetime.now(timezone.utc),
            )
        )
    assert pdf.path_for("org-1", "a/b").read_bytes() == pdf_bytes
    assert pdf.path_for("org-1", "a/b").parent == out / "org-1"


@given(st.text(min_size=1, max_size=300))
def test_safe_names_never_leave_the_directory(identifier):
    name = sinks.safe_name(identifier)
    assert name not in ("", ".", "..")
    assert "/" not in name
    assert "\\" not in name
    assert "\x00" not in name
    assert not name.startswith(".")
    assert len(name) <= 111
    assert os.path.basename(name) == name


@given(st.text(min_size=1, max_size=40), st.text(min_size=1, max_size=40))
def test_different_ids_get_different_names(first, second):
    if first != second:
        assert sinks.safe_name(first) != sinks.safe_name(second)


def test_plain_ids_are_kept_as_they_are():
    assert sinks.safe_name("in_1Nv4Xc-2026.11") == "in_1Nv4Xc-2026.11"
    assert sinks.safe_name("CON").startswith("_CON-")


async def test_a_destination_that_is_a_file_is_reported_when_the_sink_opens(tmp_path, make_client):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    calls = []
    for spec in (f"pdf:{blocker}/pdfs", f"csv:{blocker}", f"jsonl:{blocker}/x.jsonl", f"sqlite:{blocker}/x.db"):

        def on_call(operation, request):
            calls.append(operation.name)
            raise AssertionError

        with pytest.raises(vb.ConfigurationError, match="file"):
            async with make_client([spec], on_call) as client:
                await client.get_current_month_usage("org-1")
    assert calls == []


# --- console ------------------------------------------------------------------------------------------------------


async def test_console_prints_readable_tables(make_client, export_once):
    console = Console(file=io.StringIO(), width=120, color_system=None)
    async with make_client([sinks.ConsoleSink(console)]) as client:
        await export_once(client)
        await client.get_available_billing_tiers()
    text = console.file.getvalue()
    assert "Usage of org-1" in text
    assert "remote control" in text
    assert "$42.50" in text
    assert "cost type 99" in text
    assert "Invoices of org-1" in text
    assert "Outstanding balance: $15.00" in text
    assert "visa ending 4242" in text
    assert "Billing tiers" in text
    assert "pro" in text


def test_console_spec_accepts_only_the_standard_streams():
    assert sinks.ConsoleSink.from_spec("stderr").name == "console:stderr"
    with pytest.raises(vb.ConfigurationError, match="'stdout' or 'stderr'"):
        vb.create_sink("console:printer")


def test_labels_read_enum_names_numbers_and_unknown_names():
    assert sinks.cost_type_label("USAGE_COST_TYPE_REMOTE_CONTROL") == "remote control"
    assert sinks.cost_type_label("UNKNOWN_31") == sinks.cost_type_label(31) == "cost type 31"
    assert sinks.source_label("SOURCE_TYPE_FRAGMENT") == "fragment"
    with pytest.raises(ValueError, match="'COST_TYPE_BOGUS' is not a UsageCostType name"):
        sinks.cost_type_label("COST_TYPE_BOGUS")
