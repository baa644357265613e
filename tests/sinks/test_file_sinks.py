"""The jsonl, csv and pdf sinks against real files."""

from __future__ import annotations

import csv
import json
import os
from datetime import datetime, timezone

import pytest
import viam_billing as vb
import viam_billing_sinks as sinks
from hypothesis import given
from hypothesis import strategies as st
from viam_billing.plugin import safe_name

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


def _pdf_record(invoice_id: str, chunk: bytes, org_id: str = "org-1") -> vb.Record:
    return vb.Record(
        operation=vb.OPERATIONS["GetInvoicePdf"],
        request=vb.GetInvoicePdfRequest(id=invoice_id, org_id=org_id),
        result=vb.GetInvoicePdfResponse(chunk=chunk),
        org_id=org_id,
        fetched_at=datetime.now(timezone.utc),
    )


async def test_pdf_records_are_saved_under_safe_names_inside_the_directory(tmp_path, pdf_bytes):
    out = tmp_path / "pdfs"
    async with sinks.PdfSink(out) as pdf:
        for invoice_id in ("inv-1", "../../escape", "a/b"):
            await pdf.write(_pdf_record(invoice_id, pdf_bytes))
    saved = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    assert saved == sorted(f"org-1/{safe_name(i)}.pdf" for i in ("inv-1", "../../escape", "a/b"))
    assert "org-1/inv-1.pdf" in saved
    assert all(path.read_bytes() == pdf_bytes for path in out.rglob("*.pdf"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pdfs"]
    assert pdf.has("org-1", "a/b")


async def test_pdf_sink_never_replaces_a_pdf_it_already_has(tmp_path, pdf_bytes):
    async with sinks.PdfSink(tmp_path) as pdf:
        await pdf.write(_pdf_record("inv-1", pdf_bytes))
        await pdf.write(_pdf_record("inv-1", b"%PDF- another copy"))
    assert pdf.path_for("org-1", "inv-1").read_bytes() == pdf_bytes


async def test_pdf_sink_names_the_invoices_it_misses_and_makes_their_folder(tmp_path, pdf_bytes):
    pdf = sinks.PdfSink(tmp_path)
    assert pdf.missing("org-1", []) == []
    assert list(tmp_path.iterdir()) == []  # nothing to download: no folder made
    assert pdf.missing("org-1", ["inv-1", "a/b", "inv-2"]) == ["inv-1", "a/b", "inv-2"]
    assert pdf.path_for("org-1", "inv-1").parent.is_dir()
    async with pdf:
        await pdf.write(_pdf_record("inv-1", pdf_bytes))
    pdf.path_for("org-1", "inv-2").mkdir()  # a folder in a PDF's place is no PDF
    (pdf.path_for("org-1", "a/b").parent / f"{safe_name('a/b')}.pdf.part").write_bytes(b"")
    assert pdf.missing("org-1", ["inv-2", "inv-1", "a/b"]) == ["inv-2", "a/b"]
    assert [pdf.has("org-1", i) for i in ("inv-1", "inv-2", "a/b")] == [True, False, False]


async def test_pdf_sink_ignores_other_records(tmp_path, make_client, export_once):
    pdf = sinks.PdfSink(tmp_path / "pdfs")
    async with make_client([pdf]) as client:
        await export_once(client)
    assert [p for p in (tmp_path / "pdfs").rglob("*") if p.is_file()] == []


async def test_pdf_bytes_fetched_by_the_client_reach_the_sink(tmp_path, make_client, pdf_bytes):
    pdf = sinks.PdfSink(tmp_path)
    async with make_client([pdf]) as client:
        assert await client.get_invoice_pdf_bytes("inv-1", "org-1") == pdf_bytes
    assert pdf.path_for("org-1", "inv-1").read_bytes() == pdf_bytes


@given(st.text(min_size=1, max_size=300))
def test_safe_names_never_leave_the_directory(identifier):
    name = safe_name(identifier)
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
        assert safe_name(first) != safe_name(second)


def test_plain_ids_are_kept_as_they_are():
    assert safe_name("in_1Nv4Xc-2026.11") == "in_1Nv4Xc-2026.11"
    assert safe_name("CON").startswith("_CON-")


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
