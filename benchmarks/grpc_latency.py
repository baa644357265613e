"""Per-call latency of viam-billing's grpc transport against a raw grpclib stub, on the emulator.

    python benchmarks/grpc_latency.py [--calls 3000] [--rpc GetInvoicesSummary]

The emulator runs in a separate process (``python -m viam_billing_grpc.emulator --port 0``). Each variant
makes ``--calls`` sequential calls after a warm-up, and the median and 90th percentile of the per-call times
are printed:

- raw grpclib (asyncio): ``Channel.request(...)`` with the same generated message classes and Bearer metadata;
- viam-billing (asyncio): ``BillingClient`` method over ``GrpcTransport``, models in and out;
- viam-billing (trio): the same under trio, through the transport's asyncio thread.

Every call carries the same 10 s deadline. On asyncio the raw stub and our client take turns call by call on
one loop; our trio client runs in blocks alternating with blocks of the raw stub. Each ratio compares with the
raw calls made beside it, so that drift of the machine affects both sides alike.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable

import anyio
import viam_billing as vb
from grpclib.client import Channel
from grpclib.const import Cardinality
from viam_billing_grpc import AUTH_PATH
from viam_billing_grpc.emulator import ACME_ORG_ID, DEFAULT_API_KEY, DEFAULT_API_KEY_ID
from viam_billing_protos._generated import auth_pb, billing_pb

TIMEOUT = 10.0


def start_emulator() -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "viam_billing_grpc.emulator", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    line = process.stdout.readline()
    if "listening on" not in line:
        process.kill()
        raise SystemExit(f"the emulator did not start: {line!r}")
    return process, line.rsplit(" ", 1)[1].strip()


async def timed(call: Callable[[], Awaitable[object]], calls: int) -> list[float]:
    times = []
    clock = time.perf_counter
    for _ in range(calls):
        start = clock()
        await call()
        times.append(clock() - start)
    return times


def client_call(billing: vb.BillingClient, rpc: str) -> Callable[[], Awaitable[object]]:
    if rpc == "GetInvoicesSummary":
        return lambda: billing.get_invoices_summary(ACME_ORG_ID)
    if rpc == "GetAvailableBillingTiers":
        return billing.get_available_billing_tiers
    raise SystemExit(f"unsupported --rpc {rpc}")


async def raw_stub(address: str, rpc: str) -> tuple[Channel, Callable[[], Awaitable[object]]]:
    """A raw grpclib call of ``rpc``: ``Channel.request`` with the generated classes and the Bearer metadata."""
    host, port = address.rsplit(":", 1)
    channel = Channel(host, int(port))
    request = auth_pb.AuthenticateRequest(
        entity=DEFAULT_API_KEY_ID, credentials=auth_pb.Credentials(type="api-key", payload=DEFAULT_API_KEY)
    )
    async with channel.request(
        AUTH_PATH, Cardinality.UNARY_UNARY, auth_pb.AuthenticateRequest, auth_pb.AuthenticateResponse
    ) as stream:
        await stream.send_message(request, end=True)
        reply = await stream.recv_message()
    assert reply is not None
    metadata = {"authorization": f"Bearer {reply.access_token}"}
    path = vb.operation(rpc).path
    request_type = getattr(billing_pb, f"{rpc}Request")
    reply_type = getattr(billing_pb, f"{rpc}Response")
    fields = request_type.DESCRIPTOR.fields_by_name
    message = request_type(org_id=ACME_ORG_ID) if "org_id" in fields else request_type()

    async def call() -> object:
        async with channel.request(
            path, Cardinality.UNARY_UNARY, request_type, reply_type, timeout=TIMEOUT, metadata=metadata
        ) as stream:
            await stream.send_message(message, end=True)
            return await stream.recv_message()

    return channel, call


def connect_options(address: str) -> dict[str, object]:
    return {"address": address, "api_key": DEFAULT_API_KEY, "api_key_id": DEFAULT_API_KEY_ID, "insecure": True}


async def asyncio_pair(address: str, rpc: str, calls: int, warmup: int) -> tuple[list[float], list[float]]:
    """Raw stub and our client on one asyncio loop, call for call in turn, so that drift hits both alike."""
    channel, raw = await raw_stub(address, rpc)
    try:
        async with vb.connect(**connect_options(address), timeout=TIMEOUT) as billing:
            ours = client_call(billing, rpc)
            await timed(raw, warmup)
            await timed(ours, warmup)
            raw_times: list[float] = []
            our_times: list[float] = []
            for _ in range(calls):
                raw_times += await timed(raw, 1)
                our_times += await timed(ours, 1)
            return raw_times, our_times
    finally:
        channel.close()


async def raw_block(address: str, rpc: str, calls: int, warmup: int) -> list[float]:
    channel, raw = await raw_stub(address, rpc)
    try:
        await timed(raw, warmup)
        return await timed(raw, calls)
    finally:
        channel.close()


async def ours_block(address: str, rpc: str, calls: int, warmup: int) -> list[float]:
    async with vb.connect(**connect_options(address), timeout=TIMEOUT) as billing:
        call = client_call(billing, rpc)
        await timed(call, warmup)
        return await timed(call, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6, help="trio blocks alternate with raw blocks this many times")
    parser.add_argument(
        "--rpc", default="GetInvoicesSummary", choices=["GetInvoicesSummary", "GetAvailableBillingTiers"]
    )
    args = parser.parse_args()
    process, address = start_emulator()
    try:
        raw, ours_asyncio = asyncio.run(asyncio_pair(address, args.rpc, args.calls, args.warmup))
        per_round = max(1, args.calls // args.rounds)
        raw_for_trio: list[float] = []
        ours_trio: list[float] = []
        for _ in range(args.rounds):
            raw_for_trio += asyncio.run(raw_block(address, args.rpc, per_round, args.warmup))
            ours_trio += anyio.run(ours_block, address, args.rpc, per_round, args.warmup, backend="trio")
    finally:
        process.terminate()
        process.wait()
    print(f"{args.rpc}: median (p90) per call, emulator in another process, {TIMEOUT:g} s deadline on every call")

    def line(name: str, times: list[float], base: list[float]) -> None:
        median, p90 = statistics.median(times), statistics.quantiles(times, n=10)[-1]
        ratio = median / statistics.median(base)
        print(f"  {name:26} {median * 1e6:7.1f} us ({p90 * 1e6:7.1f})   {ratio:4.2f}x the raw stub beside it")

    line("raw grpclib, asyncio", raw, raw)
    line("viam-billing, asyncio", ours_asyncio, raw)
    line("raw grpclib, asyncio", raw_for_trio, raw_for_trio)
    line("viam-billing, trio", ours_trio, raw_for_trio)


if __name__ == "__main__":
    main()
