"""Connections ending under calls, as servers and load balancers end them: GOAWAY (graceful, two-phase, with
streams left unprocessed) and connections dropped with calls queued for a stream slot; what each call becomes.

Raw HTTP/2 servers on loopback (``h2_server`` in conftest.py) send exactly the frames each case needs.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import anyio
import pytest
import viam_billing as vb
from viam_billing_grpc import RetryPolicy
from viam_billing_grpc.emulator import ACME_ORG_ID, Emulator
from viam_billing_protos._generated import billing_pb

pytestmark = pytest.mark.anyio

FAST_RETRY = RetryPolicy(max_attempts=4, initial_backoff=0.001, max_backoff=0.01)
MAX_STREAM_ID = 2**31 - 1


def client_of(address: str, **options: Any) -> vb.BillingClient:
    # An access token skips the handshake: the billing calls are the only requests the server sees.
    options.setdefault("retry", FAST_RETRY)
    options.setdefault("timeout", None)  # no deadline: nothing may wait forever anyway
    return vb.connect(address=address, access_token="tok-raw", insecure=True, **options)


def charged_orgs(connection: Any) -> list[str]:
    """The organizations a connection's answered charges were for."""
    return [
        billing_pb.ChargeOrganizationRequest.FromString(request.message).org_id_to_charge
        for request in connection.answered
        if request.name == "ChargeOrganization"
    ]


async def call(billing: vb.BillingClient, rpc: str, index: int = 0) -> object:
    if rpc == "ChargeOrganization":
        return (await billing.charge_organization(f"org-{index}", 10.0, 0.8)).invoice_id
    return (await billing.get_invoices_summary(f"org-{index}")).outstanding_balance


EXPECTED = {"ChargeOrganization": "inv-raw", "GetInvoicesSummary": 12.5}


# -- GOAWAY --------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("order", ["goaway-then-answer", "answer-then-goaway"])
@pytest.mark.parametrize("rpc", ["GetInvoicesSummary", "ChargeOrganization"])
async def test_answers_that_arrive_with_a_graceful_goaway_are_returned(h2_server, rpc: str, order: str) -> None:
    """Each call is answered in one TCP segment with GOAWAY(NO_ERROR, last_stream_id=its stream), before or after
    the answer: 10 calls in a row return their answers, each charge is made once, and each call after a GOAWAY
    goes to a new connection."""

    async def script(connection: Any) -> None:
        request = await connection.request()
        if order == "goaway-then-answer":
            await connection.goaway(request.stream_id)
            await connection.serve(request)
        else:
            await connection.serve(request, flush=False)
            await connection.goaway(request.stream_id)

    async with h2_server(script) as server, client_of(server.address) as billing:
        with anyio.fail_after(10):
            results = [await call(billing, rpc, index) for index in range(10)]
    assert results == [EXPECTED[rpc]] * 10
    assert server.received(rpc) == server.answered(rpc) == 10
    assert len(server.connections) == 10
    if rpc == "ChargeOrganization":
        assert sorted(org for c in server.connections for org in charged_orgs(c)) == [f"org-{i}" for i in range(10)]


async def test_a_two_phase_shutdown_loses_no_call(h2_server) -> None:
    """grpc-go's graceful stop: GOAWAY(2^31-1), PING, the answers of the calls in flight, GOAWAY(last stream).
    The calls in flight return their answers; a call started during the drain goes to a new connection."""
    drained = anyio.Event()
    reached_new = anyio.Event()

    async def script(connection: Any) -> None:
        if connection.index:
            request = await connection.request()
            reached_new.set()
            await connection.serve(request)
            await connection.serve_all()
            return
        in_flight = await connection.requests(3)
        await connection.goaway(MAX_STREAM_ID)
        await connection.ping()  # acknowledged: the client has seen the first GOAWAY
        drained.set()
        await connection.serve(in_flight[0])
        await reached_new.wait()  # the call made during the drain went to a new connection, at once
        for request in in_flight[1:]:
            await connection.serve(request, flush=False)
        await connection.goaway(max(request.stream_id for request in in_flight))

    results: dict[str, object] = {}

    async def run(name: str, rpc: str, index: int) -> None:
        results[name] = await call(billing, rpc, index)

    async with h2_server(script) as server, client_of(server.address) as billing:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                tg.start_soon(run, "read-1", "GetInvoicesSummary", 1)
                tg.start_soon(run, "charge-2", "ChargeOrganization", 2)
                tg.start_soon(run, "charge-3", "ChargeOrganization", 3)
                await drained.wait()
                tg.start_soon(run, "during-drain", "ChargeOrganization", 4)
            await server.connections[0].closed.wait()  # drained, then closed by the client
    assert results == {"read-1": 12.5, "charge-2": "inv-raw", "charge-3": "inv-raw", "during-drain": "inv-raw"}
    assert sorted(charged_orgs(server.connections[0])) == ["org-2", "org-3"]
    assert charged_orgs(server.connections[1]) == ["org-4"]
    assert len(server.connections) == 2


async def test_new_calls_go_to_a_new_connection_at_once(h2_server) -> None:
    """After GOAWAY, a new call does not wait for the draining connection's calls: it dials a new connection and
    is answered while the old one still has a call in flight; the old connection is closed once that call ends."""
    goaway_seen = anyio.Event()
    release = anyio.Event()

    async def script(connection: Any) -> None:
        if connection.index:
            await connection.serve_all()
            return
        slow = await connection.request()
        await connection.goaway(slow.stream_id)
        await connection.ping()
        goaway_seen.set()
        await release.wait()
        await connection.serve(slow)

    async with h2_server(script) as server, client_of(server.address) as billing, anyio.create_task_group() as tg:
        slow_result: list[object] = []

        async def slow_call() -> None:
            slow_result.append(await call(billing, "ChargeOrganization", 0))

        tg.start_soon(slow_call)
        with anyio.fail_after(5):
            await goaway_seen.wait()
            assert await billing.get_available_billing_tiers() == vb.GetAvailableBillingTiersResponse(
                tiers=("free", "pro")
            )
            assert [r.name for r in server.connections[1].received] == ["GetAvailableBillingTiers"]
            assert not slow_result  # the first connection's call is still in flight
            release.set()
            await server.connections[0].closed.wait()
    assert slow_result == ["inv-raw"]
    assert [r.name for r in server.connections[0].received] == ["ChargeOrganization"]


@pytest.mark.parametrize("error_code", [0, 11], ids=["NO_ERROR", "ENHANCE_YOUR_CALM"])
async def test_calls_above_the_last_stream_id_are_sent_again_even_charges(h2_server, error_code: int) -> None:
    """Four charges in flight; GOAWAY names the first as the last stream processed. It returns its answer; the
    three others, never processed, are sent again on a new connection (transparently: with retries off). Each
    organization is charged exactly once."""

    async def script(connection: Any) -> None:
        if connection.index:
            await connection.serve_all()
            return
        requests = sorted(await connection.requests(4))
        await connection.goaway(requests[0].stream_id, error_code)
        await connection.serve(requests[0])

    async with h2_server(script) as server, client_of(server.address, retry=None) as billing:
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for index in range(4):
                    tg.start_soon(call, billing, "ChargeOrganization", index)
    first, second = server.connections
    assert len(first.received) == 4
    assert len(first.answered) == 1
    assert sorted(charged_orgs(first) + charged_orgs(second)) == ["org-0", "org-1", "org-2", "org-3"]
    assert len(second.received) == 3


async def test_a_stream_refused_by_the_server_is_sent_again_even_a_charge(h2_server) -> None:
    """RST_STREAM(REFUSED_STREAM) means "not processed": the charge is sent again (retries off) and made once."""

    async def script(connection: Any) -> None:
        await connection.refuse(await connection.request())
        await connection.serve_all()

    async with h2_server(script) as server, client_of(server.address, retry=None) as billing:
        with anyio.fail_after(5):
            assert await call(billing, "ChargeOrganization") == "inv-raw"
    assert server.received("ChargeOrganization") == 2
    assert charged_orgs(server.connections[0]) == ["org-0"]


async def test_a_server_that_processes_nothing_fails_the_call_after_a_few_tries(h2_server) -> None:
    """A server whose every connection says GOAWAY(last_stream_id=0) cannot keep a call without a deadline
    forever: after a few transparent retries a charge fails, saying it had no effect."""

    async def script(connection: Any) -> None:
        await connection.request()
        await connection.goaway(0)

    async with h2_server(script) as server, client_of(server.address, retry=None) as billing:
        with anyio.fail_after(10), pytest.raises(vb.TransportError, match="safe to send again") as caught:
            await call(billing, "ChargeOrganization")
    assert caught.value.operation == "ChargeOrganization"
    assert 2 <= len(server.connections) <= 6
    assert server.answered("ChargeOrganization") == 0


# -- connections dropped under load ---------------------------------------------------------------------------------


def dropping_after(count: int) -> Callable[[Any], Any]:
    """A server script: the first connection answers one warm-up call, takes ``count`` more requests (its stream
    limit), then drops; later connections serve everything."""

    async def script(connection: Any) -> None:
        if connection.index:
            await connection.serve_all()
            return
        await connection.serve(await connection.request())
        await connection.requests(count)
        await connection.drop()

    return script


async def test_reads_queued_for_a_stream_slot_survive_a_dropped_connection(h2_server) -> None:
    """The server allows 5 concurrent streams; 15 reads are in flight or queued when the connection drops. With
    no deadline, every read returns: the 5 in flight are retried, the 10 that never got a stream are sent on the
    new connection."""
    async with (
        h2_server(dropping_after(5), max_streams={0: 5}) as server,
        client_of(server.address) as billing,
    ):
        await billing.get_available_billing_tiers()  # the connection, with its limit of 5 streams, is up
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for index in range(15):
                    tg.start_soon(call, billing, "GetInvoicesSummary", index)
    first, second = server.connections
    assert len(first.received) == 1 + 5
    assert len(second.received) == 15
    assert server.answered("GetInvoicesSummary") == 15


async def test_charges_queued_for_a_stream_slot_are_sent_once_the_others_fail_at_once(h2_server) -> None:
    """15 charges, 5 in flight when the connection drops: those 5 fail at once saying they may or may not have
    been carried out; the 10 that never got a stream are sent on a new connection and succeed. No organization
    is sent to both connections."""
    outcomes: dict[int, object] = {}

    async def charge(billing: vb.BillingClient, index: int) -> None:
        try:
            outcomes[index] = await call(billing, "ChargeOrganization", index)
        except vb.TransportError as exc:
            outcomes[index] = exc

    async with (
        h2_server(dropping_after(5), max_streams={0: 5}) as server,
        client_of(server.address, retry=None) as billing,
    ):
        await billing.get_available_billing_tiers()
        with anyio.fail_after(10):
            async with anyio.create_task_group() as tg:
                for index in range(15):
                    tg.start_soon(charge, billing, index)
    first, second = server.connections
    failed = {index for index, outcome in outcomes.items() if isinstance(outcome, vb.TransportError)}
    assert len(failed) == 5
    assert all("may or may not" in str(outcomes[index]) for index in failed)
    sent_first = {billing_pb.ChargeOrganizationRequest.FromString(r.message).org_id_to_charge for r in first.received}
    assert sent_first - {""} == {f"org-{index}" for index in failed}
    assert sorted(charged_orgs(second)) == sorted(f"org-{i}" for i in range(15) if i not in failed)
    assert {outcomes[i] for i in range(15) if i not in failed} == {"inv-raw"}


# -- what a connection keeps --------------------------------------------------------------------------------------


async def test_finished_calls_leave_nothing_in_h2s_closed_stream_table(
    make_client, emulator: Emulator, transport_of
) -> None:
    """h2 remembers closed streams (65,536 of them, ~105 bytes each) to recognise late frames; only streams reset
    can get those, so only they are kept: 600 calls leave no entry, a cancelled call one. The closed streams h2
    holds between two counts of the open ones stay fewer than _STREAMS_HELD_BEFORE_COUNTING."""
    from viam_billing_grpc._connection import _STREAMS_HELD_BEFORE_COUNTING

    async with make_client() as billing:
        for _ in range(600):
            await billing.get_available_billing_tiers()
            h2_connection = transport_of(billing)._engine._channel._protocol.connection._connection
            assert len(h2_connection.streams) <= _STREAMS_HELD_BEFORE_COUNTING
        assert len(h2_connection._closed_streams) == 0
        emulator.delay("GetInvoicesSummary", 30, count=1)
        with anyio.move_on_after(0.2):
            await billing.get_invoices_summary(ACME_ORG_ID)
        for _ in range(_STREAMS_HELD_BEFORE_COUNTING):  # until h2 counts the open streams and files closed ones away
            await billing.get_invoices_summary(ACME_ORG_ID)
        assert len(h2_connection._closed_streams) == 1
        assert all(stream.closed for stream in h2_connection.streams.values() if stream.stream_id < 600 * 2)


def _frames(written: bytes) -> list[tuple[int, int]]:
    """The HTTP/2 frames in ``written``: (type, stream id)."""
    import hyperframe.frame

    frames, view = [], memoryview(written)
    while view:
        frame, length = hyperframe.frame.Frame.parse_frame_header(view[:9])
        frames.append((frame.type, frame.stream_id))
        view = view[9 + length :]
    return frames


async def test_the_emulator_writes_an_answer_at_once(make_client, emulator: Emulator) -> None:
    """The emulator's answer to a call (headers, message, trailers) goes out in one write: one segment, one
    wake-up of the client, call after call."""
    async with make_client() as billing:
        await billing.get_available_billing_tiers()  # signed in: only billing calls from here on
        (answering,) = [p for p in emulator._connections if not p.connection.is_closing()]
        socket_side = answering.connection._transport._transport  # under the emulator's held writes
        answers: list[bytes] = []
        write = socket_side.write
        socket_side.write = lambda data: (answers.append(bytes(data)), write(data))
        for _ in range(5):
            await billing.get_available_billing_tiers()
    streams = [frames[0][1] for frames in map(_frames, answers)]
    assert [_frames(answer) for answer in answers] == [[(0x1, s), (0x0, s), (0x1, s)] for s in streams]
    assert len(set(streams)) == 5


@pytest.mark.parametrize(
    ("timeout", "header"),
    [(5, r"\d{1,8}m"), (1e9, "16666667M"), (1e12, "99999999H"), (1e300, "99999999H")],
    ids=["5s", "1e9s", "1e12s", "1e300s"],
)
async def test_grpc_timeout_keeps_to_8_digits(h2_server, timeout: float, header: str) -> None:
    """The deadline sent in grpc-timeout has at most 8 digits, as gRPC requires: a coarser unit for long ones
    (rounded up), and the largest value gRPC can express for the longer still."""
    seen: list[str] = []

    async def script(connection: Any) -> None:
        request = await connection.request()
        seen.append(request.headers["grpc-timeout"])
        await connection.serve(request)

    async with h2_server(script) as server, client_of(server.address, timeout=timeout) as billing:
        await billing.get_invoices_summary("org-1")
    assert re.fullmatch(header, seen[0]), seen
