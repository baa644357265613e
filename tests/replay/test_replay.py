"""Replay is faithful: equal models, the same errors, streams chunk by chunk, cancellation as live."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import anyio
import pytest
import viam_billing as vb
import viam_billing_replay as replay

pytestmark = pytest.mark.anyio

ORG = "org-1"


async def test_every_rpc_replays_as_recorded(
    open_client: Any, service: Any, every_rpc: Any, cassette: Path, tmp_path: Path
) -> None:
    """Every RPC, a PDF and recorded errors give the same results offline as live."""
    live_dir, replay_dir = tmp_path / "live", tmp_path / "replayed"
    live_dir.mkdir()
    replay_dir.mkdir()
    async with open_client("once", redact=()) as billing:
        live = await every_rpc(billing, live_dir)
    recorded_calls = len(service.calls)
    assert recorded_calls == 18

    async with open_client("none", redact=(), on_unplayed="error") as billing:
        replayed = await every_rpc(billing, replay_dir)

    assert len(service.calls) == recorded_calls  # nothing went to the service
    assert replayed == live
    assert (replay_dir / "invoice.pdf").read_bytes() == b"".join([b"%PDF-1.7\n", bytes(range(256)), b"\n%%EOF\n"])
    # The PDF broken mid-stream left no file and no temporary file behind, on replay as live.
    assert sorted(p.name for p in replay_dir.iterdir()) == ["invoice.pdf"]
    assert sorted(p.name for p in live_dir.iterdir()) == ["invoice.pdf"]


async def test_recorded_errors_are_raised_as_the_same_class(open_client: Any) -> None:
    """Class, status code, message and operation of a recorded error are those of the live one."""
    async with open_client("once") as billing:
        with pytest.raises(vb.NotFoundError) as live:
            await billing.get_invoices_summary("org-missing")
    async with open_client("none") as billing:
        with pytest.raises(vb.NotFoundError) as replayed:
            await billing.get_invoices_summary("org-missing")
    assert type(replayed.value) is type(live.value)
    assert replayed.value.code == live.value.code == vb.StatusCode.NOT_FOUND
    assert replayed.value.message == live.value.message
    assert str(replayed.value) == str(live.value)


@pytest.mark.parametrize("code", list(vb.StatusCode)[1:], ids=lambda code: code.name)
async def test_every_status_error_replays_as_its_class(open_client: Any, cassette: Path, code: vb.StatusCode) -> None:
    """Each status code's error class (CancelledStatusError for CANCELLED, ...) is recorded by name and raised again
    as that class: the cassette's table of error classes covers every one viam_billing exports."""
    error = vb.status_error(code, f"status {code.name}", operation="GetAvailableBillingTiers")

    def fail(operation: vb.Operation[Any, Any], request: vb.Model) -> Any:
        raise error

    async with open_client("once", inner=vb.MockTransport(fail)) as billing:
        with pytest.raises(type(error)):
            await billing.get_available_billing_tiers()
    assert json.loads(cassette.read_text())["interactions"][0]["error"]["type"] == type(error).__name__
    async with open_client("none") as billing:
        with pytest.raises(vb.StatusError) as replayed:
            await billing.get_available_billing_tiers()
    assert type(replayed.value) is type(error)
    assert (replayed.value.code, replayed.value.message) == (code, f"status {code.name}")


async def test_non_status_errors_are_raised_as_their_exact_class(open_client: Any, service: Any) -> None:
    """A TransportError subclass raised by the wrapped transport comes back as that class."""

    def down(operation: Any, request: Any) -> Any:
        raise vb.ConnectError("connection refused by 127.0.0.1:1")

    async with open_client("once", inner=vb.MockTransport(down)) as billing:
        with pytest.raises(vb.ConnectError):
            await billing.get_available_billing_tiers()
    async with open_client("none") as billing:
        with pytest.raises(vb.ConnectError, match="connection refused") as replayed:
            await billing.get_available_billing_tiers()
    assert type(replayed.value) is vb.ConnectError


async def test_a_subclass_of_a_public_error_is_recorded_as_the_public_class(open_client: Any) -> None:
    """A transport's private error class is replayed as its nearest viam_billing ancestor."""

    class PrivateUnavailable(vb.UnavailableError):
        pass

    def flaky(operation: Any, request: Any) -> Any:
        raise PrivateUnavailable("try later")

    async with open_client("once", inner=vb.MockTransport(flaky)) as billing:
        with pytest.raises(PrivateUnavailable):
            await billing.get_available_billing_tiers()
    async with open_client("none") as billing:
        with pytest.raises(vb.UnavailableError) as replayed:
            await billing.get_available_billing_tiers()
    assert type(replayed.value) is vb.UnavailableError


async def test_streams_replay_chunk_by_chunk(open_client: Any) -> None:
    """Each recorded chunk arrives as its own message, in order."""
    async with open_client("once") as billing:
        await billing.get_invoice_pdf_bytes("inv-1", ORG)
    async with open_client("none") as billing, billing.stream_invoice_pdf("inv-1", ORG) as chunks:
        received = [chunk async for chunk in chunks]
    assert received == [b"%PDF-1.7\n", bytes(range(256)), b"\n%%EOF\n"]


async def test_an_error_mid_stream_replays_after_the_chunks_before_it(open_client: Any, tmp_path: Path) -> None:
    """The chunks that came before the error arrive, then the error; the PDF file is not written."""
    async with open_client("once") as billing:
        with pytest.raises(vb.UnavailableError):
            await billing.get_invoice_pdf_bytes("inv-broken", ORG)
    dest = tmp_path / "out.pdf"
    dest.write_bytes(b"old invoice")
    received: list[bytes] = []

    async def read_all(billing: vb.BillingClient) -> None:
        async with billing.stream_invoice_pdf("inv-broken", ORG) as chunks:
            async for chunk in chunks:
                received.append(chunk)  # noqa: PERF401 - the chunks before the error must be kept

    async with open_client("none", allow_playback_repeats=True) as billing:
        with pytest.raises(vb.UnavailableError, match="connection reset"):
            await read_all(billing)
        with pytest.raises(vb.UnavailableError):
            await billing.get_invoice_pdf("inv-broken", ORG, dest)
    assert received == [b"%PDF-1.7\n", bytes(range(256))]
    assert dest.read_bytes() == b"old invoice"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cassettes", "out.pdf"]


async def test_leaving_a_replayed_stream_early_is_clean(open_client: Any) -> None:
    """Breaking out after the first chunk closes the stream; the next call still replays."""
    async with open_client("once") as billing:
        await billing.get_invoice_pdf_bytes("inv-1", ORG)
        await billing.get_available_billing_tiers()
    async with open_client("none") as billing:
        async with billing.stream_invoice_pdf("inv-1", ORG) as chunks:
            async for chunk in chunks:
                assert chunk == b"%PDF-1.7\n"
                break
        tiers = await billing.get_available_billing_tiers()
    assert tiers.tiers == ("free", "pro", "enterprise")


async def test_cancelling_a_replayed_pdf_download_leaves_no_file(open_client: Any, tmp_path: Path) -> None:
    """A cancel scope that fires mid-download cancels the replayed stream; no file, no temporary file."""
    async with open_client("once") as billing:
        await billing.get_invoice_pdf_bytes("inv-1", ORG)
    dest = tmp_path / "invoice.pdf"
    async with open_client("none") as billing:
        with anyio.CancelScope() as scope:
            async with billing.stream_invoice_pdf("inv-1", ORG) as chunks:
                async for _ in chunks:
                    scope.cancel()
        assert scope.cancelled_caught
    async with open_client("none", allow_playback_repeats=True) as billing:
        with anyio.CancelScope() as scope:
            scope.cancel()
            await billing.get_invoice_pdf("inv-1", ORG, dest)
    assert scope.cancelled_caught
    assert not dest.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cassettes"]


async def test_a_call_cancelled_while_recording_is_cancelled_again_on_replay(
    open_client: Any, service: Any, cassette: Path
) -> None:
    """A call its caller gave up on is recorded as cancelled; on replay the same deadline cancels it again."""
    service.hang = True
    async with open_client("once") as billing:
        with anyio.move_on_after(0.05) as scope:
            await billing.charge_organization("org-2", 1.0, 0.0)
        assert scope.cancelled_caught
    document = json.loads(cassette.read_text())
    assert document["interactions"][0]["outcome"] == "cancelled"

    async with open_client("none") as billing:
        with anyio.move_on_after(0.05) as scope:
            await billing.charge_organization("org-2", 1.0, 0.0)
    assert scope.cancelled_caught


async def test_a_cancelled_call_that_nothing_cancels_on_replay_is_reported(open_client: Any, service: Any) -> None:
    """If the code under test stopped cancelling, replay says so instead of inventing an answer."""
    service.hang = True
    async with open_client("once") as billing:
        with anyio.move_on_after(0.01):
            await billing.charge_organization("org-2", 1.0, 0.0)
    async with open_client("none") as billing:
        with pytest.raises(replay.CassetteError, match="cancelled by its caller"):
            await billing.charge_organization("org-2", 1.0, 0.0)


async def test_a_stream_left_early_while_recording_replays_what_was_received(open_client: Any) -> None:
    """The consumer that stopped after one chunk gets that chunk again; asking for more is reported."""
    async with open_client("once") as billing, billing.stream_invoice_pdf("inv-1", ORG) as chunks:
        async for _ in chunks:
            break
    async with open_client("none", allow_playback_repeats=True) as billing:
        async with billing.stream_invoice_pdf("inv-1", ORG) as chunks:
            first = await chunks.__anext__()
        assert first == b"%PDF-1.7\n"
        with pytest.raises(replay.CassetteError, match="1 message"):
            await billing.get_invoice_pdf_bytes("inv-1", ORG)


async def test_an_error_raised_by_the_consumer_is_not_recorded_as_the_streams(open_client: Any, cassette: Path) -> None:
    """A BillingError raised in the caller's own loop body says nothing about how the stream ended."""

    async def consume() -> None:
        async with open_client("once") as billing, billing.stream_invoice_pdf("inv-1", ORG) as chunks:
            async for _ in chunks:
                raise vb.ValidationError("the caller's own check failed", argument="x")

    with pytest.raises(vb.ValidationError):
        await consume()
    interaction = json.loads(cassette.read_text())["interactions"][0]
    assert interaction["outcome"] == "cancelled"
    assert "error" not in interaction
    assert len(interaction["responses"]) == 1


async def test_replayed_calls_run_concurrently(open_client: Any) -> None:
    """Concurrent calls on one replay client each get their own recorded answer."""
    async with open_client("once") as billing:
        for _ in range(5):
            await billing.get_invoices_summary(ORG)
        await billing.get_current_month_usage(ORG)
    results: list[Any] = []
    async with open_client("none", on_unplayed="error") as billing:

        async def one(call: Any) -> None:
            results.append(await call)

        async with anyio.create_task_group() as tg:
            for _ in range(5):
                tg.start_soon(one, billing.get_invoices_summary(ORG))
            tg.start_soon(one, billing.get_current_month_usage(ORG))
    assert len(results) == 6


async def test_a_closed_transport_refuses_calls(open_client: Any) -> None:
    """Calls after close fail with a message instead of replaying or recording."""
    async with open_client("once") as billing:
        await billing.get_available_billing_tiers()
    transport = billing.transport
    with pytest.raises(vb.BillingError, match="closed"):
        await transport.unary(
            vb.operation("GetAvailableBillingTiers"), vb.GetAvailableBillingTiersRequest(), timeout=None
        )
