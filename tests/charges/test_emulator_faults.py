"""The emulator's faults for charges, checked where they are set (their effect is what test_run and test_command
exercise: a charge made and its answer lost, and the count of charges per organization)."""

from __future__ import annotations

import pytest
import viam_billing as vb
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize("name", ["GetInvoicePdf", "Authenticate", "NoSuchRpc"])
def test_answers_can_be_lost_only_for_unary_billing_rpcs(name):
    emulator = Emulator()
    with pytest.raises(ValueError, match=name):
        emulator.apply_then_hang(name)


def test_the_count_of_lost_answers_is_checked():
    with pytest.raises(ValueError, match="count must be a positive int, got 0"):
        Emulator().apply_then_drop("ChargeOrganization", count=0)


async def test_clear_faults_forgets_lost_answers(anyio_backend):
    async with Emulator() as emulator, vb.connect(**emulator.connect_options(), timeout=5) as billing:
        emulator.apply_then_hang("ChargeOrganization")
        emulator.clear_faults()
        answer = await billing.charge_organization(ACME_ORG_ID, 1.0, 0.25)
    assert answer.invoice_id == emulator.charges[0].invoice_id
    assert emulator.charges_per_org == {ACME_ORG_ID: 1}
    assert emulator.invoices(ACME_ORG_ID)[0].invoice_amount == 1.25
