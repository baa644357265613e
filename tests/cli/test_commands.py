"""The per-operation subcommands, output formats, confirmations, errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import viam_billing as vb


def test_usage_as_a_table_json_and_csv(run):
    table = run("usage", "org-1")
    assert table.code == 0
    assert "standard compute" in table.out
    assert "$9.50" in table.out
    as_json = json.loads(run("usage", "org-1", "-f", "json").out)
    assert as_json["subtotal"] == 9.5
    assert as_json["start_date"] == "2026-11-01T00:00:00Z"
    rows = list(csv.reader(io.StringIO(run("usage", "org-1", "--format", "csv").out)))
    assert rows[0][:2] == ["org_id", "fetched_at"]
    assert rows[1][0] == "org-1"
    assert rows[1][-2:] == ["USAGE_COST_TYPE_STANDARD_COMPUTE", "9.5"]


def test_invoices_info_and_tiers(run, calls):
    assert "inv-org-1" in run("invoices", "org-1").out
    assert "org-1@example.com" in run("info", "org-1").out
    assert "pro" in run("tiers").out
    assert [t.calls[0][0] for t in calls] == [
        "GetInvoicesSummary",
        "GetOrgBillingInformation",
        "GetAvailableBillingTiers",
    ]


def test_invoice_pdf_is_saved_whole(run, tmp_path):
    target = tmp_path / "x.pdf"
    result = run("invoice-pdf", "org-1", "inv-1", "-o", str(target))
    assert result.code == 0
    assert target.read_bytes() == b"%PDF-1.4 body %%EOF"
    assert [p.name for p in tmp_path.iterdir()] == ["x.pdf"]


def test_a_failed_pdf_download_leaves_nothing(run, tmp_path):
    def broken(operation, request):
        async def chunks():
            yield vb.GetInvoicePdfResponse(chunk=b"%PDF-")
            raise vb.UnavailableError("reset", operation=operation.name)

        return chunks()

    result = run("invoice-pdf", "org-1", "inv-1", "-o", str(tmp_path / "x.pdf"), handler=broken)
    assert result.code == 4
    assert list(tmp_path.iterdir()) == []


def test_a_pdf_appears_under_its_name_only_once_complete(run, tmp_path):
    target = tmp_path / "x.pdf"
    target.write_bytes(b"old")
    midway = []

    def watched(operation, request):
        async def chunks():
            yield vb.GetInvoicePdfResponse(chunk=b"%PDF-1.4 ")
            midway.append((target.read_bytes(), len(list(tmp_path.iterdir()))))
            yield vb.GetInvoicePdfResponse(chunk=b"body %%EOF")

        return chunks()

    result = run("invoice-pdf", "org-1", "inv-1", "-o", str(target), handler=watched)
    assert result.code == 0
    # Mid-download the old file is still whole, the new one growing beside it.
    assert midway == [(b"old", 2)]
    assert target.read_bytes() == b"%PDF-1.4 body %%EOF"
    assert [p.name for p in tmp_path.iterdir()] == ["x.pdf"]


def test_a_dropped_pdf_download_keeps_the_previous_file(run, tmp_path):
    target = tmp_path / "x.pdf"
    target.write_bytes(b"old")

    def dropped(operation, request):
        async def chunks():
            yield vb.GetInvoicePdfResponse(chunk=b"%PDF-")
            raise vb.UnavailableError("reset", operation=operation.name)

        return chunks()

    result = run("invoice-pdf", "org-1", "inv-1", "-o", str(target), handler=dropped)
    assert result.code == 4
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.pdf"]


def test_charge_needs_confirmation_and_yes_skips_it(run, calls):
    refused = run("charge", "org-1", "--subtotal", "10", "--tax", "0.8")
    assert refused.code == 2
    assert "pass --yes" in refused.err
    assert "$10.80" in refused.out  # what would be charged is shown first
    assert calls == []  # nothing was sent
    done = run("charge", "org-1", "--subtotal", "10", "--tax", "0.8", "--description", "support", "--yes")
    assert done.code == 0
    assert "inv-new" in done.out
    ((name, request),) = calls[0].calls
    assert name == "ChargeOrganization"
    assert (request.subtotal, request.tax, request.description) == (10.0, 0.8, "support")


def test_errors_are_one_line_with_distinct_exit_codes(run):
    denied = run("usage", "org-bad")
    assert denied.code == 3
    assert denied.err.strip().splitlines() == [
        "error: GetCurrentMonthUsage: PERMISSION_DENIED: not an owner of org-bad "
        "(billing calls need an organization owner's API key)"
    ]
    assert run("usage", "org-down").code == 4
    bad_arg = run("usage", " ")
    assert bad_arg.code == 2
    assert "org_id must be a non-empty string" in bad_arg.err
    assert "Traceback" not in denied.err + bad_arg.err


def test_verbose_shows_the_traceback(run):
    result = run("-v", "usage", "org-bad")
    assert result.code == 3
    assert "Traceback" in result.err


def test_usage_errors_exit_2(run):
    assert run("usage").code == 2
    assert run("--record-mode", "all", "tiers").code == 2
    unknown = run("export", "--org", "org-1", "--sink", "parquet:x")
    assert unknown.code == 2
    assert "registered: console, csv, jsonl, pdf, sqlite" in unknown.err


def test_missing_credentials_are_a_usage_error_without_a_prompt(run):
    result = run("tiers", env={"VIAM_API_KEY": None})
    assert result.code == 2
    assert "set VIAM_API_KEY and VIAM_API_KEY_ID" in result.err


def test_no_option_takes_a_secret():
    from viam_billing._cli import cli

    names = {name for param in cli.params for name in param.opts}
    assert not {n for n in names if "key" in n or "token" in n or "secret" in n}


def test_secrets_never_appear_in_output(run):
    for args in (("usage", "org-bad"), ("-v", "usage", "org-down"), ("tiers",)):
        result = run(*args)
        assert "test-key-secret" not in result.out + result.err


def test_plugins_lists_built_ins_with_what_they_provide(run):
    result = run("plugins")
    assert result.code == 0
    lines = {
        line.split()[1]: line for line in result.out.splitlines() if line.startswith("│ ") and "viam-billing" in line
    }
    assert "console, jsonl, csv, sqlite, pdf" in lines["sinks"]
    assert "replay" in lines["replay"]
    assert "loaded" in lines["sinks"]


def test_python_dash_m_runs_the_same_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "viam_billing", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0
    assert "Usage: viam-billing" in result.stdout
    assert "export" in result.stdout
