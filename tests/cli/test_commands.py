"""The per-operation subcommands, output formats, confirmations, errors and exit codes."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from importlib import metadata

import pytest
import viam_billing as vb


def _fields(text: str) -> dict[str, str]:
    """The ``field  value`` lines of a two-column table as printed (without a header), by field."""
    fields = {}
    for line in text.splitlines():
        parts = [part for part in line.strip().split("  ") if part]
        if len(parts) >= 2:
            fields[parts[0].strip()] = parts[-1].strip()
    return fields


def _rows(table: str) -> dict[str, list[str]]:
    """The body rows of a rich table as printed, by first cell."""
    rows = [
        [cell.strip() for cell in line.strip("│ ").split("│")] for line in table.splitlines() if line.startswith("│")
    ]
    return {row[0]: row for row in rows}


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
    # Mid-download the old file is still whole, and alone: a small PDF waits in memory until it is complete.
    assert midway == [(b"old", 1)]
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
    assert "$10.80" in refused.err  # what would be charged is shown first, beside the question
    assert [t.calls for t in calls] == [[]]  # the client was made (options checked) but nothing was sent
    done = run("charge", "org-1", "--subtotal", "10", "--tax", "0.8", "--description", "support", "--yes")
    assert done.code == 0
    assert "inv-new" in done.out
    ((name, request),) = calls[1].calls
    assert name == "ChargeOrganization"
    assert request == vb.ChargeOrganizationRequest(
        org_id_to_charge="org-1", subtotal=10.0, tax=0.8, description="support", disable_confirmation_email=False
    )


def test_charge_no_email_turns_the_confirmation_email_off(run, sent):
    args = ("charge", "org-1", "--subtotal", "10", "--branding-org", "org-brand", "--yes")
    with_email, without_email = run(*args), run(*args, "--no-email")
    assert (with_email.code, without_email.code) == (0, 0)
    assert _fields(with_email.err)["confirmation email"] == "yes"
    assert _fields(without_email.err)["confirmation email"] == "no"
    (_, first), (_, second) = sent()
    assert (first.disable_confirmation_email, second.disable_confirmation_email) == (False, True)
    assert first.org_id_for_branding == second.org_id_for_branding == "org-brand"


@pytest.mark.parametrize(
    ("args", "summary", "request_sent", "said"),
    [
        (
            ("set-tier", "org-1", "pro"),
            {"organization": "org-1", "tier": "pro"},
            vb.UpdateOrganizationBillingTierRequest(organization_id="org-1", billing_tier="pro"),
            "org-1 is now on pro",
        ),
        (
            ("set-location-org", "loc-1", "org-2"),
            {"location": "loc-1", "billing organization": "org-2"},
            vb.UpdateLocationBillingOrganizationRequest(location_id="loc-1", billing_organization_id="org-2"),
            "org-2 now pays for loc-1",
        ),
        (
            ("send-payment-email", "org-customer", "org-owner"),
            {"customer": "org-customer", "billing owner": "org-owner"},
            vb.SendPaymentRequiredEmailRequest(customer_org_id="org-customer", billing_owner_org_id="org-owner"),
            "sent",
        ),
    ],
    ids=["set-tier", "set-location-org", "send-payment-email"],
)
def test_a_change_is_shown_asked_for_and_then_sent_exactly(run, sent, args, summary, request_sent, said):
    refused = run(*args)
    assert refused.code == 2
    assert "not confirmed" in refused.err
    # What would change is shown before anything is sent.
    assert {key: _fields(refused.err)[key] for key in summary} == summary
    assert sent() == []
    done = run(*args, "--yes")
    assert done.code == 0, done.err
    assert sent() == [(vb.OPERATIONS.for_request(request_sent).name, request_sent)]
    assert done.out.strip().splitlines()[-1] == said


def test_a_change_the_service_refuses_exits_with_its_code(run, sent):
    def refuse(operation, request):
        raise vb.FailedPreconditionError("no such tier", operation=operation.name)

    result = run("set-tier", "org-1", "platinum", "--yes", handler=refuse)
    assert result.code == 4
    assert "FAILED_PRECONDITION: no such tier" in result.err
    assert "is now on" not in result.out
    assert [name for name, _ in sent()] == ["UpdateOrganizationBillingTier"]


def test_location_org_asks_for_the_location_and_shows_who_pays(run, sent):
    table = run("location-org", "loc-9")
    assert table.code == 0, table.err
    assert "payer-of-loc-9" in table.out
    as_json = run("location-org", "loc-9", "-f", "json")
    assert json.loads(as_json.out) == {"billing_organization_id": "payer-of-loc-9"}
    request = vb.GetLocationBillingOrganizationRequest(location_id="loc-9")
    assert sent() == [("GetLocationBillingOrganization", request)] * 2


def test_only_the_options_given_reach_the_transport(run, options):
    assert run("tiers").code == 0
    assert run("--address", "billing.test:8443", "--insecure", "tiers").code == 0
    credentials = {"api_key": "test-key-secret", "api_key_id": "test-key-id"}
    assert options == [credentials, {**credentials, "address": "billing.test:8443", "insecure": True}]


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
    assert "Invalid value for 'ORG_ID': must not be empty" in bad_arg.err
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
    assert "no sink scheme 'parquet' is registered (there are: console, csv, " in unknown.err


def test_missing_credentials_are_one_sentence_naming_the_variable(run):
    only_key = run("tiers", env={"VIAM_API_KEY": None})
    assert only_key.code == 2
    assert only_key.err.splitlines() == [
        "error: VIAM_API_KEY is not set: export the API key id and key of an organization owner's API key as "
        "VIAM_API_KEY_ID and VIAM_API_KEY (never as options)"
    ]
    both = run("tiers", env={"VIAM_API_KEY": None, "VIAM_API_KEY_ID": None})
    assert both.code == 2
    assert both.err.startswith("error: VIAM_API_KEY_ID and VIAM_API_KEY are not set: ")


def test_no_option_takes_a_secret():
    from viam_billing_cli import cli

    names = {name for param in cli.params for name in param.opts}
    assert not {n for n in names if "key" in n or "token" in n or "secret" in n}


def test_secrets_never_appear_in_output(run):
    for args in (("usage", "org-bad"), ("-v", "usage", "org-down"), ("tiers",)):
        result = run(*args)
        assert "test-key-secret" not in result.out + result.err


def test_plugins_lists_each_plugin_once_with_its_distribution_version_and_names(run):
    result = run("plugins")
    assert result.code == 0, result.err
    rows = _rows(result.out)
    version = metadata.version("viam-billing")
    assert rows["viam_billing_sinks"] == [
        "viam_billing_sinks", "viam-billing", version, "sinks: jsonl, csv, sqlite, pdf", "loaded"
    ]  # fmt: skip
    assert rows["viam_billing_cli.console"] == [
        "viam_billing_cli.console", "viam-billing", version, "sinks: console", "loaded"
    ]  # fmt: skip
    assert rows["viam_billing_replay"][1:] == ["viam-billing", version, "transports: replay", "loaded"]
    assert rows["viam_billing_grpc"][1:3] == ["viam-billing", version]
    assert rows["viam_billing_grpc"][3] == "transports: grpc"
    # A plugin registered in-process has no distribution, and says so with empty cells.
    assert rows["cli-mock"] == ["cli-mock", "", "", "transports: cli-mock", "loaded"]
    # One row per plugin, although the sinks plugin is listed under four entry points.
    assert sum(1 for line in result.out.splitlines() if "viam_billing_sinks" in line) == 1


def test_python_dash_m_runs_the_same_command_line():
    result = subprocess.run(
        [sys.executable, "-m", "viam_billing_cli", "--help"], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0
    assert "Usage: viam-billing" in result.stdout
    assert "export" in result.stdout


def test_public_names_are_at_home_in_the_public_modules():
    import viam_billing_cli
    from viam_billing_cli import console

    assert viam_billing_cli.__all__ == ["cli", "main"]
    assert viam_billing_cli.main.__module__ == "viam_billing_cli"
    assert console.__all__ == sorted(console.__all__)
    assert console.ConsoleSink.__module__ == "viam_billing_cli.console"
    with pytest.raises(AttributeError, match="has no attribute 'nothing'"):
        _ = viam_billing_cli.nothing
