"""Every figure reconciles: usage, its CSV and JSON, the export summary and the report, against totals this test
computes itself from the emulator's seed."""

from __future__ import annotations

import csv
import io
import json
import re
from collections import defaultdict
from datetime import datetime, timezone

import pytest

pytest.importorskip("viam_billing_grpc.emulator", reason="the grpc plugin's emulator is not installed")

from viam_billing_cli._render import money
from viam_billing_grpc.emulator import GLOBEX_ORG_ID
from viam_billing_grpc.emulator._seed import seed_organizations


def _expected(now: datetime) -> dict[str, tuple[float, float, float]]:
    """Per owned organization of the seed: (cost before discounts, discounts, subtotal), summed here."""
    figures = {}
    for org in seed_organizations(now).values():
        if not org.owned:
            continue
        costs = [s.resource_usage_costs for s in org.sources if s.resource_usage_costs is not None]
        before = round(sum(line.cost for c in costs for line in c.usage_costs), 2)
        discounts = round(sum(c.discount for c in costs), 2)
        figures[org.org_id] = (before, discounts, round(before - discounts, 2))
    return figures


def _row(text: str, label: str) -> list[str]:
    """The cells after ``label`` on its line of a printed table."""
    match = re.search(rf"^\s*{re.escape(label)}\s+(.*)$", text, re.MULTILINE)
    assert match, f"no row {label!r} in:\n{text}"
    return match.group(1).split()


def test_usage_shows_the_cost_before_discounts_the_discounts_and_the_subtotal_and_every_format_adds_up(cli):
    for org_id, (before, discounts, subtotal) in _expected(datetime.now(timezone.utc)).items():
        code, table, err = cli("usage", org_id)
        assert code == 0, err
        assert _row(table, "total before discounts") == [money(before)]
        assert _row(table, "discounts") == [money(-discounts)]
        assert _row(table, "subtotal after discounts") == [money(subtotal)]

        rows = list(csv.DictReader(io.StringIO(cli("usage", org_id, "-f", "csv")[1])))
        assert round(sum(float(r["cost"]) for r in rows), 2) == subtotal
        assert round(-sum(float(r["cost"]) for r in rows if r["resource_type"] == "DISCOUNT"), 2) == discounts

        data = json.loads(cli("usage", org_id, "-f", "json")[1])
        assert data["subtotal"] == subtotal
        for source in data["resource_usage_costs_by_source"]:
            costs = source["resource_usage_costs"]
            lines = sum(line["cost"] for line in costs["usage_costs"])
            assert round(lines - costs["discount"], 2) == costs["total_with_discount"]
        assert round(sum(s["resource_usage_costs"]["total_with_discount"]
                         for s in data["resource_usage_costs_by_source"]), 2) == subtotal  # fmt: skip


def test_the_summary_and_the_report_equal_the_figures_they_come_from(cli, emulator):
    now = datetime.now(timezone.utc)
    expected = _expected(now)
    orgs = [arg for org in emulator.org_ids for arg in ("--org", org)]
    code, _, err = cli("export", *orgs, "--sink", "sqlite:h.db")
    assert code == 0, err
    assert _row(err, "total of 4")[0] == money(sum(s for _, _, s in expected.values()))

    code, report, err = cli("report", "--db", "h.db")
    assert code == 0, err
    this_month = now.strftime("%Y-%m")
    usage_part = report[: report.index("Invoices per month")]
    assert f"{this_month} so far" in usage_part  # the current month is usage so far, and says so
    assert _row(usage_part, "total before discounts") == [money(sum(b for b, _, _ in expected.values()))]
    assert _row(usage_part, "discounts") == [money(-sum(d for _, d, _ in expected.values()))]
    assert _row(usage_part, "subtotal after discounts") == [money(sum(s for _, _, s in expected.values()))]
    # The cost-type rows add up to the total before discounts.
    rows = re.findall(r"^\s*([a-z][a-z 0-9]*?)\s{2,}\$([\d,]+\.\d\d)\s*$", usage_part, re.MULTILINE)
    type_rows = [amount for label, amount in rows if "discounts" not in label]
    assert len(type_rows) == 25
    assert money(sum(float(a.replace(",", "")) for a in type_rows)) == money(sum(b for b, _, _ in expected.values()))

    # Invoices per month of their date, as the seed has them; never mixed into the usage figures.
    invoiced: dict[str, float] = defaultdict(float)
    unpaid = 0.0
    for org_id in emulator.org_ids:
        for invoice in emulator.invoices(org_id):
            invoiced[invoice.invoice_date.strftime("%Y-%m")] += invoice.invoice_amount
            unpaid += 0.0 if invoice.status == "paid" else invoice.invoice_amount
    invoice_part = report[report.index("Invoices per month") :]
    for month, amount in invoiced.items():
        assert _row(invoice_part, month)[1] == money(amount)
    assert _row(invoice_part, "total")[1:] == [money(sum(invoiced.values())), money(unpaid)]
    assert money(invoiced[this_month]) not in usage_part

    # The charts' axes read as amounts, never as 20-digit numbers.
    charts = report[report.index("Usage per month after discounts, US dollars") :]
    assert re.search(r"\d{8,}", charts) is None
    assert re.search(r"^\s*\$[\d,]+(\.\d\d)?┤", charts, re.MULTILINE)


def test_report_of_one_organization_equals_its_usage(cli):
    before, discounts, subtotal = _expected(datetime.now(timezone.utc))[GLOBEX_ORG_ID]
    assert cli("export", "--org", GLOBEX_ORG_ID, "--sink", "sqlite:h.db")[0] == 0
    code, report, _ = cli("report", "--db", "h.db", "--org", GLOBEX_ORG_ID, "--no-chart")
    assert code == 0
    usage = json.loads(cli("usage", GLOBEX_ORG_ID, "-f", "json")[1])
    assert _row(report, "subtotal after discounts") == [money(usage["subtotal"])] == [money(subtotal)]
    assert _row(report, "total before discounts") == [money(before)]
    assert _row(report, "discounts") == [money(-discounts)]
