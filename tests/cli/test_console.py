"""The ``console`` sink and the display helpers it shares with the commands."""

from __future__ import annotations

import io
import subprocess
import sys

import pytest
import viam_billing as vb
from rich.console import Console
from viam_billing_cli._render import cost_type_label, money, source_label
from viam_billing_cli.console import ConsoleSink


def _answers(operation, request):
    name = operation.name
    if name == "GetCurrentMonthUsage":
        costs = vb.ResourceUsageCosts(
            usage_costs=(
                vb.UsageCost(resource_type=vb.UsageCostType.USAGE_COST_TYPE_REMOTE_CONTROL, cost=30.0),
                vb.UsageCost(resource_type=vb.UsageCostType(99), cost=12.5),  # a type this version does not know
            )
        )
        source = vb.ResourceUsageCostsBySource(source_type=vb.SourceType.SOURCE_TYPE_ORG, resource_usage_costs=costs)
        return vb.GetCurrentMonthUsageResponse(subtotal=42.5, resource_usage_costs_by_source=(source,))
    if name == "GetInvoicesSummary":
        invoice = vb.InvoiceSummary(id="inv-1", invoice_amount=15.0, status="outstanding")
        return vb.GetInvoicesSummaryResponse(outstanding_balance=15.0, invoices=(invoice,))
    if name == "GetOrgBillingInformation":
        card = vb.PaymentMethodCard(brand="visa", last_four_digits="4242")
        return vb.GetOrgBillingInformationResponse(billing_email="b@example.com", method=card)
    if name == "GetAvailableBillingTiers":
        return vb.GetAvailableBillingTiersResponse(tiers=("free", "pro"))
    if name == "ChargeOrganization":
        return vb.ChargeOrganizationResponse(invoice_id="inv-9")
    return operation.response_type()


@pytest.mark.anyio
async def test_console_prints_readable_tables():
    printed = Console(file=io.StringIO(), width=120, color_system=None)
    async with vb.BillingClient(vb.MockTransport(_answers), sinks=[ConsoleSink(printed)]) as client:
        await client.get_current_month_usage("org-1")
        await client.get_invoices_summary("org-1")
        await client.get_org_billing_information("org-1")
        await client.get_available_billing_tiers()
        await client.charge_organization("org-1", 5.0, 0.0)
        await client.update_organization_billing_tier("org-1", "pro")
    text = printed.file.getvalue()
    assert "Usage so far this month of org-1" in text
    assert "remote control" in text
    assert "$42.50" in text
    assert "cost type 99" in text
    assert "Invoices of org-1" in text
    assert "Outstanding balance: $15.00" in text
    assert "visa ending 4242" in text
    assert "Billing tiers" in text
    assert "free" in text
    assert "inv-9" in text  # any other result: its fields
    assert "UpdateOrganizationBillingTier of org-1: done" in text  # an empty result: that it was done


def test_the_console_sink_comes_through_its_entry_point():
    (info,) = [p for p in vb.list_plugins(load=True) if p.name == "console"]
    assert (info.kind, info.module, info.distribution, info.error) == (
        "sink",
        "viam_billing_cli.console",
        "viam-billing",
        None,
    )
    assert info.sinks == ("console",)
    sink = vb.create_sink("console:stderr")
    assert type(sink) is ConsoleSink
    assert sink.name == "console:stderr"


def test_console_spec_accepts_only_the_standard_streams():
    assert vb.create_sink("console").name == "console"
    with pytest.raises(vb.ConfigurationError, match="'stdout' or 'stderr'"):
        vb.create_sink("console:printer")


def test_the_console_sink_loads_rich_but_not_the_command_line():
    code = (
        "import sys, viam_billing as vb\n"
        "vb.create_sink('console')\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('click', 'plotext', 'viam_billing_sinks')"
        " or m.startswith('viam_billing_cli.')), 'rich' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60).stdout
    assert out.split() == ["['viam_billing_cli._layout',", "'viam_billing_cli._render',", "'viam_billing_cli.console']",
                           "True"]  # fmt: skip


def test_money_reads_as_dollars():
    assert money(1234.5) == "$1,234.50"
    assert money(-3) == "-$3.00"
    assert money(0.004) == "$0.00"
    assert money(-0.004) == "$0.00"  # never "-$0.00"


def test_labels_read_enum_names_numbers_and_unknown_names():
    assert cost_type_label("USAGE_COST_TYPE_REMOTE_CONTROL") == "remote control"
    assert cost_type_label("UNKNOWN_31") == cost_type_label(31) == "cost type 31"
    assert source_label("SOURCE_TYPE_FRAGMENT") == "fragment"
    assert source_label(77) == "source 77"
    with pytest.raises(ValueError, match="'COST_TYPE_BOGUS' is not a UsageCostType name"):
        cost_type_label("COST_TYPE_BOGUS")
