"""Record from the real gRPC transport against the emulator, then replay with the emulator stopped."""

from __future__ import annotations

import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import viam_billing as vb
import viam_billing_replay as replay
from viam_billing_grpc import RetryPolicy
from viam_billing_grpc.emulator import (
    ACME_ORG_ID,
    FOREIGN_ORG_ID,
    GLOBEX_ORG_ID,
    INITECH_ORG_ID,
    Emulator,
)

pytestmark = pytest.mark.anyio

NOW = datetime(2026, 11, 20, 9, 30, tzinfo=timezone.utc)
FAST_RETRY = RetryPolicy(max_attempts=3, initial_backoff=0.001, max_backoff=0.01)


async def every_rpc(billing: vb.BillingClient, emulator: Emulator | None, directory: Path) -> list[Any]:
    """All 11 RPCs against the emulator's seed: PDFs (one cut mid-stream), refusals and an injected fault."""
    results: list[Any] = []

    async def attempt(call: Any) -> None:
        try:
            results.append(await call)
        except vb.BillingError as exc:
            results.append((type(exc), getattr(exc, "code", None), exc.message, exc.operation))

    await attempt(billing.get_current_month_usage(ACME_ORG_ID))
    await attempt(billing.get_current_month_usage(GLOBEX_ORG_ID))  # has a cost type newer than the client
    await attempt(billing.get_current_month_usage(FOREIGN_ORG_ID))  # PERMISSION_DENIED
    await attempt(billing.get_org_billing_information(ACME_ORG_ID))
    await attempt(billing.get_org_billing_information(INITECH_ORG_ID))
    await attempt(billing.get_invoices_summary(ACME_ORG_ID))
    await attempt(billing.get_invoice_pdf_bytes("inv-acme-0001", ACME_ORG_ID))
    await attempt(billing.get_invoice_pdf("inv-acme-0003", ACME_ORG_ID, directory / "inv-acme-0003.pdf"))
    await attempt(billing.get_invoice_pdf_bytes("inv-acme-9999", ACME_ORG_ID))  # NOT_FOUND
    if emulator is not None:
        emulator.drop_connection("GetInvoicePdf", after_chunks=1)
    await attempt(billing.get_invoice_pdf("inv-acme-0002", ACME_ORG_ID, directory / "cut.pdf"))
    await attempt(billing.send_payment_required_email(GLOBEX_ORG_ID, ACME_ORG_ID))
    await attempt(billing.get_available_billing_tiers())
    await attempt(billing.update_organization_billing_tier(INITECH_ORG_ID, "pro"))
    await attempt(billing.update_organization_billing_tier(INITECH_ORG_ID, "platinum"))  # INVALID_ARGUMENT
    await attempt(billing.get_location_billing_organization("loc-acme-field"))
    await attempt(billing.update_location_billing_organization("loc-acme-field", ACME_ORG_ID))
    await attempt(billing.charge_organization(GLOBEX_ORG_ID, 100.0, 8.0, "support, November"))
    if emulator is not None:
        emulator.fail_next("ChargeOrganization", vb.StatusCode.UNAVAILABLE)
    await attempt(billing.charge_organization(GLOBEX_ORG_ID, 100.0, 8.0, "support, November"))  # injected
    with pytest.warns(DeprecationWarning, match="deprecated"):
        await attempt(billing.create_invoice_and_charge_immediately(GLOBEX_ORG_ID, 5.0))
    await attempt(billing.get_invoices_summary(GLOBEX_ORG_ID))
    return results


def listing(directory: Path) -> list[str]:
    return sorted(os.listdir(directory))


async def test_record_every_rpc_then_replay_with_the_emulator_stopped(tmp_path: Path) -> None:
    """Live results through the grpc transport equal the replayed ones once the emulator is gone."""
    cassette = tmp_path / "cassettes" / "every_rpc.json"
    live_dir, replay_dir = tmp_path / "live", tmp_path / "replayed"
    live_dir.mkdir()
    replay_dir.mkdir()
    async with Emulator(now=NOW) as emulator:
        options = emulator.connect_options()
        async with vb.connect(
            transport="replay",
            cassette=cassette,
            record_mode="once",
            redact=(),
            retry=FAST_RETRY,
            timeout=10,
            **options,
        ) as billing:
            live = await every_rpc(billing, emulator, live_dir)
        received = dict(emulator.received)
        secrets = list(emulator.secrets())

    assert received["GetInvoicePdf"] >= 4
    text = cassette.read_text()
    assert secrets
    assert all(secret not in text for secret in secrets)  # key, key id, session tokens

    # The emulator is stopped: its address refuses connections, so anything not replayed would fail.
    async with vb.connect(
        transport="replay", cassette=cassette, redact=(), on_unplayed="error", timeout=10, **options
    ) as billing:
        replayed = await every_rpc(billing, None, replay_dir)

    assert replayed == live
    errors = {result[0] for result in live if isinstance(result, tuple)}
    assert {vb.PermissionDeniedError, vb.NotFoundError, vb.InvalidArgumentError, vb.UnavailableError} <= errors
    assert any(isinstance(result, vb.GetCurrentMonthUsageResponse) for result in live)
    pdf = (replay_dir / "inv-acme-0003.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-")
    assert pdf == (live_dir / "inv-acme-0003.pdf").read_bytes()
    # The download cut mid-stream left neither a file nor a temporary file, live or replayed.
    assert listing(replay_dir) == listing(live_dir) == ["inv-acme-0003.pdf"]


async def test_replay_with_the_emulator_stopped_never_dials(tmp_path: Path) -> None:
    """Without the cassette, the stopped emulator's address cannot answer: replay is what answers."""
    cassette = tmp_path / "usage.json"
    async with Emulator(now=NOW) as emulator:
        options = emulator.connect_options()
        async with vb.connect(transport="replay", cassette=cassette, record_mode="once", **options) as billing:
            live = await billing.get_current_month_usage(ACME_ORG_ID)
    async with vb.connect(**options, retry=FAST_RETRY, timeout=5) as direct:
        with pytest.raises(vb.TransportError):
            await direct.get_current_month_usage(ACME_ORG_ID)
    async with vb.connect(transport="replay", cassette=cassette, **options) as billing:
        assert await billing.get_current_month_usage(ACME_ORG_ID) == live


async def test_recording_from_the_emulator_redacts_card_and_bank_details(tmp_path: Path) -> None:
    """With the default redaction, the emulator's card digits and billing e-mail never reach the cassette."""
    cassette = tmp_path / "billing.json"
    async with (
        Emulator(now=NOW) as emulator,
        vb.connect(transport="replay", cassette=cassette, record_mode="once", **emulator.connect_options()) as billing,
    ):
        live = await billing.get_org_billing_information(ACME_ORG_ID)
    assert live.method is not None
    text = cassette.read_text()
    assert live.billing_email not in text
    assert f'"last_four_digits": "{live.method.last_four_digits}"' not in text
    async with vb.connect(transport="replay", cassette=cassette) as billing:
        replayed = await billing.get_org_billing_information(ACME_ORG_ID)
    assert replayed.billing_email == replay.REDACTED
    assert replayed.method is not None
    assert replayed.method.brand == live.method.brand


@pytest.mark.parametrize("credentials", ["options", "environment"])
async def test_the_emulator_key_in_a_recorded_answer_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, credentials: str
) -> None:
    """If the API key shows up in what was recorded, the cassette is not written: the grpc transport reports the key
    it was given or read from VIAM_API_KEY through secrets(), and replay itself knows no credential names."""
    cassette = tmp_path / "leak.json"
    async with Emulator(now=NOW) as emulator:
        options = emulator.connect_options()
        if credentials == "environment":
            monkeypatch.setenv("VIAM_API_KEY", options.pop("api_key"))
            monkeypatch.setenv("VIAM_API_KEY_ID", options.pop("api_key_id"))
        with pytest.raises(replay.CassetteSecretError) as info:
            async with vb.connect(transport="replay", cassette=cassette, record_mode="once", **options) as billing:
                # A careless caller puts the key in a charge's description: the request is recorded.
                await billing.charge_organization(GLOBEX_ORG_ID, 1.0, 0.0, f"key {emulator.api_key}")
        assert emulator.received["ChargeOrganization"] == 1  # the call went through, authenticated
    assert info.value.kind == "secret held by the inner GrpcTransport (from its secrets())"
    assert emulator.api_key not in str(info.value)
    assert not cassette.exists()
