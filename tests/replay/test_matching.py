"""Matching recorded interactions to requests, and what an unmatched request reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import viam_billing as vb
import viam_billing_replay as replay

pytestmark = pytest.mark.anyio

ORG = "org-1"


async def record_charges(open_client: Any, *descriptions: str | None) -> list[str]:
    async with open_client("once") as billing:
        return [
            (await billing.charge_organization("org-2", 10.0, 1.0, description)).invoice_id
            for description in descriptions
        ]


async def test_the_whole_request_must_match_by_default(open_client: Any) -> None:
    """A request differing in any field is unmatched."""
    await record_charges(open_client, "November")
    async with open_client("none") as billing:
        with pytest.raises(replay.UnmatchedRequestError):
            await billing.charge_organization("org-2", 10.0, 1.0, "December")
        with pytest.raises(replay.UnmatchedRequestError):
            await billing.charge_organization("org-2", 10.0, 2.0, "November")


async def test_equal_requests_play_once_each_in_recorded_order(open_client: Any) -> None:
    """Two equal charges recorded with different answers replay in that order, then the cassette is spent."""
    recorded = await record_charges(open_client, "November", "November")
    assert recorded == ["inv-new-1", "inv-new-2"]
    async with open_client("none") as billing:
        first = await billing.charge_organization("org-2", 10.0, 1.0, "November")
        second = await billing.charge_organization("org-2", 10.0, 1.0, "November")
        with pytest.raises(replay.UnmatchedRequestError, match="already played"):
            await billing.charge_organization("org-2", 10.0, 1.0, "November")
    assert [first.invoice_id, second.invoice_id] == recorded


async def test_repeats_replay_the_last_match_again(open_client: Any) -> None:
    """With allow_playback_repeats, the recorded order is kept and the last one answers every extra call."""
    await record_charges(open_client, "November", "November")
    async with open_client("none", allow_playback_repeats=True) as billing:
        ids = [(await billing.charge_organization("org-2", 10.0, 1.0, "November")).invoice_id for _ in range(4)]
    assert ids == ["inv-new-1", "inv-new-2", "inv-new-2", "inv-new-2"]


async def test_ignored_fields_are_left_out_of_matching(open_client: Any) -> None:
    """match_ignore=["description"] matches charges whatever their description."""
    await record_charges(open_client, "November")
    async with open_client("none", match_ignore=["description"]) as billing:
        result = await billing.charge_organization("org-2", 10.0, 1.0, "anything at all")
    assert result.invoice_id == "inv-new-1"


async def test_an_ignored_field_can_be_limited_to_one_operation(open_client: Any) -> None:
    """ "ChargeOrganization.description" ignores it there and nowhere else."""
    async with open_client("once") as billing:
        await billing.charge_organization("org-2", 10.0, 1.0, "November")
        with pytest.warns(DeprecationWarning, match="deprecated"):
            await billing.create_invoice_and_charge_immediately("org-2", 5.0, "November")
    async with open_client("none", match_ignore=["ChargeOrganization.description"]) as billing:
        await billing.charge_organization("org-2", 10.0, 1.0, "December")
        with pytest.raises(replay.UnmatchedRequestError), pytest.warns(DeprecationWarning, match="deprecated"):
            await billing.create_invoice_and_charge_immediately("org-2", 5.0, "December")


async def test_a_custom_matcher_decides_which_requests_match(open_client: Any) -> None:
    """The matcher's key replaces field-by-field comparison."""
    await record_charges(open_client, "November")

    def by_organization(request: vb.Model) -> Any:
        return getattr(request, "org_id_to_charge", None)

    async with open_client("none", matcher=by_organization) as billing:
        result = await billing.charge_organization("org-2", 99.0, 9.0, "other")
        assert result.invoice_id == "inv-new-1"
        with pytest.raises(replay.UnmatchedRequestError):
            await billing.charge_organization("org-1", 10.0, 1.0, "November")


async def test_an_unmatched_request_names_cassette_operation_request_and_nearest(
    open_client: Any, cassette: Path
) -> None:
    """The error text says where, what, and which recorded calls came closest, with the fields that differ."""
    async with open_client("once") as billing:
        await billing.charge_organization("org-2", 10.0, 1.0, "November")
        await billing.charge_organization("org-2", 20.0, 1.0, "November")
        await billing.charge_organization("org-1", 30.0, 5.0, "October")
        await billing.charge_organization("org-1", 30.0, 5.0, "September")
        await billing.get_available_billing_tiers()
    async with open_client("none") as billing:
        with pytest.raises(replay.UnmatchedRequestError) as info:
            await billing.charge_organization("org-2", 10.0, 1.5, "November")
    error = info.value
    text = str(error)
    assert error.cassette == str(cassette)
    assert error.operation == "ChargeOrganization"
    assert error.request == vb.ChargeOrganizationRequest(
        org_id_to_charge="org-2", subtotal=10.0, tax=1.5, description="November"
    )
    assert str(cassette) in text
    assert '"tax": 1.5' in text
    assert "Nearest recorded candidates:" in text
    lines = text.splitlines()
    start = lines.index("Nearest recorded candidates:")
    candidates = lines[start + 1 : start + 4]
    assert candidates[0] == "  interaction 0: tax: recorded 1.0, requested 1.5"
    assert candidates[1] == "  interaction 1: subtotal: recorded 20.0, requested 10.0; tax: recorded 1.0, requested 1.5"
    assert candidates[2].startswith("  interaction 2: ")
    assert "new_episodes" in text


async def test_an_unmatched_operation_lists_what_the_cassette_holds(open_client: Any) -> None:
    """When no call of that operation was recorded, the error says what the cassette does hold."""
    await record_charges(open_client, "November", "December")
    async with open_client("none") as billing:
        with pytest.raises(
            replay.UnmatchedRequestError,
            match=r"holds no GetInvoicesSummary call at all \(it holds: ChargeOrganization x2\)",
        ):
            await billing.get_invoices_summary(ORG)


async def test_an_unmatched_stream_is_reported_too(open_client: Any) -> None:
    """Streams are matched the same way."""
    async with open_client("once") as billing:
        await billing.get_invoice_pdf_bytes("inv-1", ORG)
    async with open_client("none") as billing:
        with pytest.raises(replay.UnmatchedRequestError, match="id: recorded 'inv-1', requested 'inv-2'"):
            await billing.get_invoice_pdf_bytes("inv-2", ORG)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"match_ignore": "description"}, "list of field names"),
        ({"match_ignore": ["descripton"]}, "no request has a field named 'descripton'"),
        ({"match_ignore": ["Charge.description"]}, "names no operation"),
        ({"matcher": "org_id"}, "matcher must be callable"),
        ({"redact": "billing_email"}, "list of field names"),
        ({"on_unplayed": "shout"}, "on_unplayed"),
        ({"inner": 42}, "inner must be"),
        ({"inner": "replay"}, "cannot record through another replay"),
    ],
)
async def test_bad_matching_options_are_configuration_errors(
    open_client: Any, options: dict[str, Any], message: str
) -> None:
    """Typos in options fail at connect, naming the problem."""
    with pytest.raises(vb.ConfigurationError, match=message):
        open_client("once", **options)


async def test_an_unhashable_matcher_key_is_reported(open_client: Any) -> None:
    """A matcher returning a list fails with advice, not a bare TypeError."""
    await record_charges(open_client, "November")
    with pytest.raises(vb.ConfigurationError, match="unhashable list"):
        open_client("none", matcher=lambda request: [1])
