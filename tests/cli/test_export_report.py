"""``export`` and ``report`` over the in-memory transport: sinks, failures of one org, idempotence, charts."""

from __future__ import annotations

import sqlite3

import pytest
import viam_billing as vb
import viam_billing_sinks as sinks
from viam_billing_cli._export import export_organizations


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_export_defaults_to_sqlite_pdfs_and_console_in_the_working_directory(run, workdir):
    result = run("export", "--org", "org-1")
    assert result.code == 0, result.err
    assert (workdir / "viam-billing.db").is_file()
    assert (workdir / "invoices" / "org-1" / "inv-org-1.pdf").read_bytes() == b"%PDF-1.4 body %%EOF"
    assert "Usage so far this month of org-1" in result.out  # the console sink, on stdout
    # The summary and where things went are on stderr: stdout belongs to the sinks.
    assert "Export summary" in result.err
    assert "Export summary" not in result.out
    assert str(workdir / "viam-billing.db") in result.err


def test_export_of_two_orgs_with_one_failing_exports_the_other_and_exits_1(run, workdir):
    result = run("export", "--org", "org-1", "--org", "org-bad", "--sink", "sqlite:h.db", "--sink", "pdf:p")
    assert result.code == 1
    assert "1 of 2 organization(s) failed: org-bad" in result.err
    summary = result.err[result.err.index("Export summary") :]
    assert "PERMISSION_DENIED" in summary
    assert result.out == ""
    with sqlite3.connect(workdir / "h.db") as conn:
        assert conn.execute("SELECT DISTINCT org_id FROM usage_snapshots").fetchall() == [("org-1",)]
    assert [p.name for p in (workdir / "p").iterdir()] == ["org-1"]


def test_export_again_keeps_pdfs_and_never_duplicates_invoices(run, workdir, calls):
    args = ("export", "--org", "org-1", "--org", "org-2", "--sink", "sqlite:h.db", "--sink", "pdf:p")
    assert run(*args).code == 0
    again = run(*args)
    assert again.code == 0
    pdf_calls = [name for t in calls for name, _ in t.calls if name == "GetInvoicePdf"]
    assert len(pdf_calls) == 2  # one per org, in the first run only
    with sqlite3.connect(workdir / "h.db") as conn:
        assert conn.execute("SELECT count(*) FROM invoices").fetchone() == (2,)
        assert conn.execute("SELECT count(*) FROM usage_snapshots").fetchone() == (4,)


def test_export_takes_the_primary_org_from_the_environment(run, workdir):
    assert run("export", "--sink", "jsonl:r.jsonl").code == 2
    result = run("export", "--sink", "jsonl:r.jsonl", env={"VIAM_PRIMARY_ORG_ID": "org-7"})
    assert result.code == 0
    assert '"org_id":"org-7"' in (workdir / "r.jsonl").read_text()


def test_export_reports_an_unwritable_sink_before_fetching(run, workdir, calls):
    (workdir / "blocker").write_text("x")
    result = run("export", "--org", "org-1", "--sink", "pdf:blocker/p")
    assert result.code == 7  # a file error
    assert "cannot write in" in result.err
    assert all(not t.calls for t in calls)


def test_export_runs_on_trio_too(run, workdir):
    result = run("--backend", "trio", "export", "--org", "org-1", "--sink", "sqlite:h.db")
    assert result.code == 0, result.err


def test_report_shows_costs_per_month_and_type_with_charts(run, workdir):
    run("export", "--org", "org-1", "--org", "org-2", "--sink", "sqlite:h.db")
    result = run("report", "--db", "h.db")
    assert result.code == 0, result.err
    assert "Usage per month and cost type, before discounts" in result.out
    assert "standard compute" in result.out
    assert "$19.00" in result.out  # two orgs' 9.50 in 2026-11
    assert "Invoices per month" in result.out
    assert "2026-10" in result.out
    assert "Usage per month after discounts, US dollars" in result.out  # the charts
    assert "Invoiced per month of the invoice date" in result.out
    assert "\x1b[" not in result.out  # no colour codes when not on a terminal
    only_one = run("report", "--db", "h.db", "--org", "org-1", "--no-chart")
    assert "$9.50" in only_one.out
    assert "Usage per month after discounts" not in only_one.out


def test_report_without_history_says_what_to_do(run, workdir):
    result = run("report", "--db", "missing.db")
    assert result.code == 2
    assert "run `viam-billing export` first" in result.err
    assert not (workdir / "missing.db").exists()


class _Recorder(vb.Sink):
    name = "recorder"

    def __init__(self) -> None:
        self.operations: list[str] = []

    async def write(self, record):
        self.operations.append(record.operation.name)


@pytest.mark.anyio
async def test_export_downloads_each_missing_pdf_into_every_pdf_sink(handler, tmp_path):
    first, second, plain = sinks.PdfSink(tmp_path / "a"), sinks.PdfSink(tmp_path / "b"), _Recorder()
    transport = vb.MockTransport(handler)
    async with vb.BillingClient(transport, sinks=[first, plain, second]) as client:
        (outcome,) = await export_organizations(client, ["org-1"])
    assert (outcome.ok, outcome.pdfs_downloaded, outcome.pdfs_kept) == (True, 2, 0)
    for pdf in (first, second):
        assert pdf.path_for("org-1", "inv-org-1").read_bytes() == b"%PDF-1.4 body %%EOF"
    request = vb.GetInvoicePdfRequest(id="inv-org-1", org_id="org-1")
    assert [call for call in transport.calls if call[0] == "GetInvoicePdf"] == [("GetInvoicePdf", request)] * 2
    # The PDFs stream to disk: no sink is handed the document.
    assert sorted(plain.operations) == ["GetCurrentMonthUsage", "GetInvoicesSummary", "GetOrgBillingInformation"]


@pytest.mark.anyio
async def test_export_never_replaces_a_pdf_it_already_has(handler, tmp_path):
    pdf = sinks.PdfSink(tmp_path)
    kept = pdf.path_for("org-1", "inv-org-1")
    kept.parent.mkdir()
    kept.write_bytes(b"%PDF- the copy kept")
    transport = vb.MockTransport(handler)
    async with vb.BillingClient(transport, sinks=[pdf]) as client:
        (outcome,) = await export_organizations(client, ["org-1"])
    assert (outcome.ok, outcome.pdfs_downloaded, outcome.pdfs_kept) == (True, 0, 1)
    assert kept.read_bytes() == b"%PDF- the copy kept"
    assert "GetInvoicePdf" not in [name for name, _ in transport.calls]


@pytest.mark.anyio
async def test_a_failed_pdf_download_is_reported_and_leaves_nothing(handler, tmp_path):
    def dropped(operation, request):
        if operation.name != "GetInvoicePdf":
            return handler(operation, request)

        async def chunks():
            yield vb.GetInvoicePdfResponse(chunk=b"%PDF-")
            raise vb.UnavailableError("reset", operation=operation.name)

        return chunks()

    pdf = sinks.PdfSink(tmp_path)
    async with vb.BillingClient(vb.MockTransport(dropped), sinks=[pdf]) as client:
        (outcome,) = await export_organizations(client, ["org-1"])
    assert outcome.errors == ["GetInvoicePdf: UNAVAILABLE: reset"]
    assert (outcome.invoices, outcome.pdfs_downloaded) == (1, 0)
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []


def test_report_names_organizations_it_has_no_data_for(run, workdir):
    assert run("export", "--org", "org-1", "--sink", "sqlite:h.db").code == 0
    none = run("report", "--db", "h.db", "--org", "org-nope", "--no-chart")
    assert none.code == 1
    assert "warning: h.db has no data of organization org-nope: export it first" in " ".join(none.err.split())
    assert "Billing report for no organization" in none.out
    some = run("report", "--db", "h.db", "--org", "org-1", "--org", "org-nope", "--no-chart")
    assert some.code == 0
    assert "org-nope" in some.err
    assert "Billing report for org-1," in some.out


def test_report_only_reads_the_history(run, workdir):
    import hashlib

    assert run("export", "--org", "org-1", "--sink", "sqlite:h.db").code == 0
    db = workdir / "h.db"
    db.chmod(0o444)
    before = (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns)
    result = run("report", "--db", "h.db")
    assert result.code == 0, result.err
    assert (hashlib.sha256(db.read_bytes()).hexdigest(), db.stat().st_mtime_ns) == before
    assert sorted(p.name for p in workdir.iterdir() if p.name.startswith("h.db")) == ["h.db"]
