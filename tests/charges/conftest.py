"""Fixtures of the charge-plan tests: an emulator on loopback (real gRPC), a client of it, plans made from rows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from typing import Any

import pytest
import viam_billing as vb
from viam_billing.charges import ChargePlan, Journal
from viam_billing_grpc.emulator import ACME_ORG_ID, GLOBEX_ORG_ID, INITECH_ORG_ID, Emulator

ORGS = (ACME_ORG_ID, GLOBEX_ORG_ID, INITECH_ORG_ID)
PERIOD = "2026-11"


def plan_text(rows: Sequence[Sequence[Any]], header: str = "org_id,subtotal,tax,description") -> str:
    return header + "\n" + "".join(",".join(str(cell) for cell in row) + "\n" for row in rows)


def make_plan(rows: Sequence[Sequence[Any]], period: str = PERIOD) -> ChargePlan:
    """A plan of ``(org_id, subtotal, tax, description)`` rows."""
    return ChargePlan.parse(plan_text(rows), period=period)


THREE = ((ACME_ORG_ID, "120.00", "9.60", "November support"), (GLOBEX_ORG_ID, "50", "0", "November hosting"),
         (INITECH_ORG_ID, "10.50", "1.05", "November data"))  # fmt: skip
"""One charge for each of three organizations the emulator's key owns."""


@pytest.fixture
async def emulator(anyio_backend: str) -> AsyncIterator[Emulator]:
    """A running emulator on a free port, on the real clock (invoices are dated when charges are made)."""
    async with Emulator() as running:
        yield running


@pytest.fixture
async def billing(emulator: Emulator) -> AsyncIterator[vb.BillingClient]:
    async with vb.connect(**emulator.connect_options(), timeout=10) as client:
        yield client


@pytest.fixture
def journal(tmp_path) -> Journal:
    with Journal(tmp_path / "journal.db") as opened:
        yield opened


@pytest.fixture
def no_org_charged_twice(emulator: Emulator) -> Callable[[], None]:
    """``check()``: assert, from the emulator's own count, that no organization was charged more than once."""

    def check() -> None:
        counts = emulator.charges_per_org
        assert all(count == 1 for count in counts.values()), counts

    return check
