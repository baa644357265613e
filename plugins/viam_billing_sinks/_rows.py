"""Records flattened into rows, one table per record kind: for the CSV and SQLite sinks and ``--format csv``."""

from __future__ import annotations

import json
import re
from typing import Any

import attrs
from viam_billing import Record, to_data
from viam_billing.plugin import encode_time

__all__ = ["DISCOUNT", "Table", "tables_for"]

DISCOUNT = "DISCOUNT"
"""The ``resource_type`` of a ``usage_lines`` row that holds a source's discount (as a negative cost)."""


@attrs.frozen(kw_only=True)
class Table:
    """Rows of one kind: ``name`` (``"usage_lines"``, ``"invoices"``, ...), its ``columns`` and ``rows``.

    Values are JSON-ready scalars (strings, numbers, booleans or ``None``): times are ISO 8601 strings and enum
    members their names, as in cassettes.
    """

    name: str
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]


USAGE_COLUMNS = ("org_id", "fetched_at", "start_date", "end_date", "subtotal")
USAGE_LINE_COLUMNS = (
    "org_id",
    "fetched_at",
    "start_date",
    "end_date",
    "source_type",
    "tier_name",
    "resource_type",
    "cost",
)
INVOICE_COLUMNS = (
    "org_id",
    "fetched_at",
    "id",
    "invoice_date",
    "invoice_amount",
    "status",
    "due_date",
    "paid_date",
    "last_payment_failure_reason",
    "last_payment_failure_at",
)
BILLING_INFORMATION_COLUMNS = (
    "org_id",
    "fetched_at",
    "type",
    "billing_email",
    "billing_tier",
    "card_brand",
    "card_last_four_digits",
    "bank_name",
    "bank_last_four_digits_account_number",
)
CHARGE_COLUMNS = ("org_id", "fetched_at", "operation", "invoice_id", "subtotal", "tax", "description")
OTHER_COLUMNS = ("org_id", "fetched_at", "request", "result")

KNOWN_TABLES: dict[str, tuple[str, ...]] = {
    "usage": USAGE_COLUMNS,
    "usage_lines": USAGE_LINE_COLUMNS,
    "invoices": INVOICE_COLUMNS,
    "billing_information": BILLING_INFORMATION_COLUMNS,
    "charges": CHARGE_COLUMNS,
}


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


def tables_for(record: Record) -> list[Table]:
    """Flatten one record into the tables it belongs to.

    ``GetCurrentMonthUsage`` gives a ``usage`` row and one ``usage_lines`` row per cost line, plus one per
    source with a discount (``resource_type`` :data:`DISCOUNT`, the discount as a negative cost), so that the
    ``cost`` column adds up to the subtotal;
    ``GetInvoicesSummary`` an ``invoices`` row per invoice; ``GetOrgBillingInformation`` a
    ``billing_information`` row; the two charge operations a ``charges`` row. Any other operation gives one row
    in a table named after it (``get_available_billing_tiers``) holding the request and result as JSON.
    """
    org = record.org_id
    fetched = encode_time(record.fetched_at)
    name = record.operation.name
    # Values are taken from to_data, so times, enums and bytes are written exactly as cassettes write them.
    data = to_data(record.result)
    request = to_data(record.request)
    if name == "GetCurrentMonthUsage":
        start, end = data["start_date"], data["end_date"]
        lines = []
        for source in data["resource_usage_costs_by_source"]:
            kind, tier, costs = source["source_type"], source["tier_name"], source["resource_usage_costs"] or {}
            lines += [(org, fetched, start, end, kind, tier, cost["resource_type"], cost["cost"])
                      for cost in costs.get("usage_costs", ())]  # fmt: skip
            if costs.get("discount"):
                lines.append((org, fetched, start, end, kind, tier, DISCOUNT, -costs["discount"]))
        return [
            Table(name="usage", columns=USAGE_COLUMNS, rows=((org, fetched, start, end, data["subtotal"]),)),
            Table(name="usage_lines", columns=USAGE_LINE_COLUMNS, rows=tuple(lines)),
        ]
    if name == "GetInvoicesSummary":
        rows = tuple((org, fetched, *(inv[column] for column in INVOICE_COLUMNS[2:])) for inv in data["invoices"])
        return [Table(name="invoices", columns=INVOICE_COLUMNS, rows=rows)]
    if name == "GetOrgBillingInformation":
        card = data["method"] or {}
        bank = data["method_us_bank_account"] or {}
        row: tuple[Any, ...] = (
            org,
            fetched,
            data["type"],
            data["billing_email"],
            data["billing_tier"],
            card.get("brand"),
            card.get("last_four_digits"),
            bank.get("bank_name"),
            bank.get("last_four_digits_account_number"),
        )
        return [Table(name="billing_information", columns=BILLING_INFORMATION_COLUMNS, rows=(row,))]
    if name == "ChargeOrganization":
        row = (org, fetched, name, data["invoice_id"], request["subtotal"], request["tax"], request["description"])
        return [Table(name="charges", columns=CHARGE_COLUMNS, rows=(row,))]
    if name == "CreateInvoiceAndChargeImmediately":
        row = (org, fetched, name, data["invoice_id"], request["amount"], 0.0, request["description"])
        return [Table(name="charges", columns=CHARGE_COLUMNS, rows=(row,))]
    row = (org, fetched, _json(request), _json(data))
    return [Table(name=_snake(name), columns=OTHER_COLUMNS, rows=(row,))]


def _json(data: Any) -> str:
    return json.dumps(data, separators=(",", ":"), sort_keys=False)
