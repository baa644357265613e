"""What goes where: stdout carries only data when data is asked for, and no table ever cuts an id, a status or
an amount, at 60 and 80 columns as well as wide."""

from __future__ import annotations

import csv
import io
import json
import subprocess

import pytest
import viam_billing as vb
from viam_billing_cli._render import money

from .conftest import command_line

pytest.importorskip("viam_billing_grpc.emulator", reason="the grpc plugin's emulator is not installed")


def _strict_json(text: str) -> object:
    def refuse(constant: str) -> None:
        raise ValueError(f"not JSON: {constant}")

    return json.loads(text, parse_constant=refuse)


def test_export_to_jsonl_on_stdout_leaves_stdout_pure_json_lines(emulator, cli_env, tmp_path):
    org = emulator.org_ids[0]
    args = ["export", "--org", org, "--sink", "jsonl:-", "--sink", "sqlite:h.db", "--sink", "pdf:p", "--insecure"]
    done = subprocess.run(command_line(*args), cwd=tmp_path, env=cli_env, capture_output=True, text=True,
                          timeout=120, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    records = [_strict_json(line) for line in done.stdout.splitlines()]
    assert sorted(r["operation"] for r in records) == [
        "GetCurrentMonthUsage", "GetInvoicesSummary", "GetOrgBillingInformation"
    ]  # fmt: skip
    assert "Export summary" in done.stderr
    assert "Stored in:" in done.stderr


def _inconsistent(operation, request):
    line = vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_PER_MACHINE, cost=10.0)
    source = vb.ResourceUsageCostsBySource(resource_usage_costs=vb.ResourceUsageCosts(usage_costs=(line,)))
    return vb.GetCurrentMonthUsageResponse(subtotal=12.0, resource_usage_costs_by_source=(source,))


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_data_formats_keep_notes_for_people_on_stderr(run, fmt):
    """A subtotal that is not lines minus discounts is pointed out, on stderr, never inside the data."""
    result = run("usage", "org-1", "-f", fmt, handler=_inconsistent)
    assert result.code == 0
    if fmt == "json":
        assert _strict_json(result.out)["subtotal"] == 12.0
    else:
        assert [row["cost"] for row in csv.DictReader(io.StringIO(result.out))] == ["10.0"]
    assert "warning: the service's subtotal $12.00 is not its lines minus discounts ($10.00)" in result.err
    table = run("usage", "org-1", handler=_inconsistent)
    assert "The service's subtotal $12.00 is not its lines minus discounts ($10.00)." in " ".join(table.out.split())


@pytest.mark.parametrize("columns", [60, 80])
def test_no_table_cuts_an_id_a_status_or_an_amount(cli, emulator, columns):
    org = emulator.org_ids[1]
    emulator.add_invoice(org, amount=100_000_000.0, status="payment_processing", invoice_id="inv-globex-0099-large")
    outputs = []
    for args in (("invoices", org), ("usage", org), ("info", org), ("tiers",)):
        code, out, err = cli(*args, columns=columns)
        assert code == 0, err
        outputs.append(out)
    code, _, summary = cli("export", "--org", org, "--sink", "sqlite:h.db", columns=columns)
    assert code == 0, summary
    code, report, _ = cli("report", "--db", "h.db", columns=columns)
    assert code == 0
    text = "\n".join([*outputs, summary, report])
    assert "…" not in text
    assert all(len(line) <= columns for line in text.splitlines())
    for invoice in emulator.invoices(org):
        assert invoice.id in outputs[0]
        assert invoice.status in outputs[0]
        assert money(invoice.invoice_amount) in outputs[0]
    month = emulator.invoices(org)[0].invoice_date.strftime("%Y-%m")
    this_month = [i.invoice_amount for i in emulator.invoices(org) if i.invoice_date.strftime("%Y-%m") == month]
    assert money(sum(this_month)) in report  # $100,000,980.00, whole in the invoices per month
    assert org in summary
    assert money(emulator.invoices(org)[0].invoice_amount) in text
