"""Per-call latency of viam-billing's grpc transport against a raw grpclib stub, on the emulator.

    python benchmarks/grpc_latency.py [--calls 3000] [--rpc GetInvoicesSummary]

The emulator runs in a separate process (``python -m viam_billing_grpc.emulator --port 0``). Each variant
makes ``--calls`` sequential calls after a warm-up, and the median and 90th percentile of the per-call times
are printed:

- raw grpclib (asyncio): ``Channel.request(...)`` with the same generated message classes and Bearer metadata;
- viam-billing (asyncio): ``BillingClient`` method over ``GrpcTransport``, models in and out;
- viam-billing (trio): the same under trio, through the transport's asyncio thread.

Every call carries the same 10 s deadline. The rounds are interleaved so that drift of the machine affects
every variant alike.
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


async def raw_grpclib(address: str, rpc: str, calls: int, warmup: int) -> list[float]:
    host, port = address.rsplit(":", 1)
    channel = Channel(host, int(port))
    try:
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
        operation = vb.operation(rpc)
        request_type = getattr(billing_pb, f"{rpc}Request")
        reply_type = getattr(billing_pb, f"{rpc}Response")
        message = (
            request_type(org_id=ACME_ORG_ID) if "org_id" in request_type.DESCRIPTOR.fields_by_name else request_type()
        )

        async def call() -> object:
            async with channel.request(
                operation.path, Cardinality.UNARY_UNARY, request_type, reply_type, timeout=TIMEOUT, metadata=metadata
            ) as stream:
                await stream.send_message(message, end=True)
                return await stream.recv_message()

        await timed(call, warmup)
        return await timed(call, calls)
    finally:
        channel.close()


async def ours(address: str, rpc: str, calls: int, warmup: int) -> list[float]:
    options = {"address": address, "api_key": DEFAULT_API_KEY, "api_key_id": DEFAULT_API_KEY_ID, "insecure": True}
    async with vb.connect(**options, timeout=TIMEOUT) as billing:
        call = client_call(billing, rpc)
        await timed(call, warmup)
        return await timed(call, calls)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=3000)
    parser.add_argument("--warmup", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds; calls are split among them")
    parser.add_argument(
        "--rpc", default="GetInvoicesSummary", choices=["GetInvoicesSummary", "GetAvailableBillingTiers"]
    )
    args = parser.parse_args()
    process, address = start_emulator()
    results: dict[str, list[float]] = {
        "raw grpclib (asyncio)": [],
        "viam-billing (asyncio)": [],
        "viam-billing (trio)": [],
    }
    per_round = args.calls // args.rounds
    try:
        for _ in range(args.rounds):
            results["raw grpclib (asyncio)"] += asyncio.run(raw_grpclib(address, args.rpc, per_round, args.warmup))
            results["viam-billing (asyncio)"] += anyio.run(
                ours, address, args.rpc, per_round, args.warmup, backend="asyncio"
            )
            results["viam-billing (trio)"] += anyio.run(ours, address, args.rpc, per_round, args.warmup, backend="trio")
    finally:
        process.terminate()
        process.wait()
    base = statistics.median(results["raw grpclib (asyncio)"])
    print(f"{args.rpc}, {per_round * args.rounds} calls per variant, emulator in another process")
    for name, times in results.items():
        median = statistics.median(times)
        p90 = statistics.quantiles(times, n=10)[-1]
        print(f"  {name:24} median {median * 1e6:7.1f} us   p90 {p90 * 1e6:7.1f} us   {median / base:4.2f}x raw")


if __name__ == "__main__":
    main()
