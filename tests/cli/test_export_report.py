"""``export`` and ``report`` over the in-memory transport: sinks, failures of one org, idempotence, charts."""

from __future__ import annotations

import sqlite3

import pytest
import viam_billing as vb
import viam_billing_sinks as sinks
from viam_billing._cli._export import export_organizations


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_export_defaults_to_sqlite_pdfs_and_console_in_the_working_directory(run, workdir):
    result = run("export", "--org", "org-1")
    assert result.code == 0, result.err
    assert (workdir / "viam-billing.db").is_file()
    assert (workdir / "invoices" / "org-1" / "inv-org-1.pdf").read_bytes() == b"%PDF-1.4 body %%EOF"
    assert "Usage of org-1" in result.out  # the console sink
    assert "Export summary" in result.out
    assert str(workdir / "viam-billing.db") in result.out


def test_export_of_two_orgs_with_one_failing_exports_the_other_and_exits_1(run, workdir):
    result = run("export", "--org", "org-1", "--org", "org-bad", "--sink", "sqlite:h.db", "--sink", "pdf:p")
    assert result.code == 1
    assert "1 of 2 organization(s) failed: org-bad" in result.err
    summary = result.out[result.out.index("Export summary") :]
    assert "PERMISSION_DENIED" in summary
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
    assert result.code == 2
    assert "cannot write in" in result.err
    assert all(not t.calls for t in calls)


def test_export_runs_on_trio_too(run, workdir):
    result = run("--backend", "trio", "export", "--org", "org-1", "--sink", "sqlite:h.db")
    assert result.code == 0, result.err


def test_report_shows_costs_per_month_and_type_with_charts(run, workdir):
    run("export", "--org", "org-1", "--org", "org-2", "--sink", "sqlite:h.db")
    result = run("report", "--db", "h.db")
    assert result.code == 0, result.err
    assert "Usage cost per month and cost type" in result.out
    assert "standard compute" in result.out
    assert "$19.00" in result.out  # two orgs' 9.50 in 2026-11
    assert "Invoices per month" in result.out
    assert "2026-10" in result.out
    assert "Cost per month in US dollars" in result.out  # the chart
    assert "\x1b[" not in result.out  # no colour codes when not on a terminal
    only_one = run("report", "--db", "h.db", "--org", "org-1", "--no-chart")
    assert "$9.50" in only_one.out
    assert "Cost per month in US dollars" not in only_one.out


def test_report_without_history_says_what_to_do(run, workdir):
    result = run("report", "--db", "missing.db")
    assert result.code == 2
    assert "run `viam-billing export` first" in result.err
    assert not (workdir / "missing.db").exists()


class _PdfKeeper(vb.Sink):
    """A third-party sink that keeps PDFs its own way: it implements InvoicePdfStore without subclassing."""

    name = "keeper"

    def __init__(self) -> None:
        self.asked: list[tuple[str, str]] = []

    async def write(self, record):
        pass

    async def store_invoice_pdf(self, client, org_id, invoice_id):
        self.asked.append((org_id, invoice_id))
        return False


class _Recorder(vb.Sink):
    name = "recorder"

    async def write(self, record):
        pass


@pytest.mark.anyio
async def test_export_hands_each_invoice_to_every_sink_that_keeps_pdfs(handler):
    keeper, plain = _PdfKeeper(), _Recorder()
    assert isinstance(keeper, sinks.InvoicePdfStore)
    assert not isinstance(plain, sinks.InvoicePdfStore)
    async with vb.BillingClient(vb.MockTransport(handler), sinks=[keeper, plain]) as client:
        (outcome,) = await export_organizations(client, ["org-1"])
    assert keeper.asked == [("org-1", "inv-org-1")]
    assert (outcome.ok, outcome.pdfs_kept, outcome.pdfs_downloaded) == (True, 1, 0)
