"""The machinery every benchmark shares: settings, statistics, rows, the emulator process, the raw stub.

Nothing here measures anything by itself; the suites (``_unary``, ``_pdf``, ``_imports``, ``_replay``) do, and
hand back :class:`Row` objects that ``_report`` renders.
"""

from __future__ import annotations

import dataclasses
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

TIMEOUT = 10.0
"""The deadline every benchmarked call carries, on every side alike."""

# The three reads both our client and the official SDK's BillingClient offer, with their protobuf types.
READS = ("GetCurrentMonthUsage", "GetInvoicesSummary", "GetOrgBillingInformation")


@dataclasses.dataclass(frozen=True)
class Settings:
    """How much each benchmark does. ``--quick`` shrinks everything to a smoke run of a few seconds.

    Every count can be set with an environment variable ``BENCH_<NAME>`` (``BENCH_RUNS=9``), which wins over
    the defaults of either mode.
    """

    runs: int = 7  # repeated runs behind every median, min and max
    calls: int = 300  # sequential rounds of the three reads per variant and run
    warmup: int = 100  # rounds before measuring (connection, caches, code paths)
    concurrency: int = 1000  # concurrent calls on one client
    pdf_mib: int = 64  # size of the downloaded invoice PDF
    chunk_kib: int = 64  # the emulator's PDF chunk size
    pdf_runs: int = 5  # downloads per variant
    memory_runs: int = 3  # fresh processes per variant for the memory high-water mark
    import_runs: int = 15  # fresh interpreters per variant, for the cold-import and first-result rows
    interactions: int = 10_000  # in the replayed cassette
    replay_calls: int = 20_000  # replayed calls per backend and run

    @classmethod
    def quick(cls) -> Settings:
        return cls(
            runs=2,
            calls=5,
            warmup=3,
            concurrency=20,
            pdf_mib=1,
            pdf_runs=1,
            memory_runs=1,
            import_runs=1,
            interactions=200,
            replay_calls=200,
        )

    def from_environment(self, environ: dict[str, str] | None = None) -> Settings:
        environ = dict(os.environ if environ is None else environ)
        changes: dict[str, int] = {}
        for field in dataclasses.fields(self):
            text = environ.get(f"BENCH_{field.name.upper()}")
            if text is not None:
                value = int(text) if text.strip().isdigit() else 0
                if value < 1:
                    raise SystemExit(f"BENCH_{field.name.upper()} must be a positive integer, got {text!r}")
                changes[field.name] = value
        return dataclasses.replace(self, **changes)


@dataclasses.dataclass(frozen=True)
class Stats:
    """Median, min and max of one figure over the repeated runs."""

    median: float
    low: float
    high: float
    runs: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Stats:
        if not values:
            raise ValueError("no values to summarise")
        return cls(statistics.median(values), min(values), max(values), len(values))


@dataclasses.dataclass(frozen=True)
class Target:
    """``what`` (``"ratio"`` or ``"value"``) must be ``op`` (``"<="``, ``"<"``, ``">="``) ``limit``."""

    what: str
    op: str
    limit: float

    def met(self, value: float) -> bool:
        if self.op == "<=":
            return value <= self.limit
        if self.op == "<":
            return value < self.limit
        if self.op == ">=":
            return value >= self.limit
        raise ValueError(f"unknown comparison {self.op!r}")


@dataclasses.dataclass(frozen=True)
class Row:
    """One line of BENCHMARKS.md: our figure, its baseline from the same runs, their ratio, the target."""

    key: str
    figure: str
    unit: str
    target: Target
    ours: Stats | None = None
    baseline_name: str = ""
    baseline: Stats | None = None
    ratio: Stats | None = None
    note: str = ""
    skipped: str = ""  # why the row was not measured, when it was not

    @property
    def met(self) -> bool | None:
        if self.skipped:
            return None
        stats = self.ratio if self.target.what == "ratio" else self.ours
        return None if stats is None else self.target.met(stats.median)

    def measured(self, ours: Sequence[float], baseline: Sequence[float] | None = None) -> Row:
        """This row with its figures: ``ours`` and ``baseline`` hold one figure per run, run ``i`` of each side by
        side, so the ratio is taken run by run (only for a target on the ratio; else the baseline is context)."""
        if baseline is None:
            return dataclasses.replace(self, ours=Stats.of(ours))
        if len(ours) != len(baseline):
            raise ValueError(f"{self.key}: {len(ours)} runs of ours but {len(baseline)} of the baseline")
        if self.target.what != "ratio":
            return dataclasses.replace(self, ours=Stats.of(ours), baseline=Stats.of(baseline))
        ratios = [a / b for a, b in zip(ours, baseline, strict=True)]
        return dataclasses.replace(self, ours=Stats.of(ours), baseline=Stats.of(baseline), ratio=Stats.of(ratios))

    def skip(self, why: str) -> Row:
        return dataclasses.replace(self, skipped=why)

    def as_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["met"] = self.met
        return data


async def timed_calls(call: Callable[[], Awaitable[object]], count: int) -> list[float]:
    """Per-call seconds of ``count`` sequential awaits of ``call()``."""
    clock = time.perf_counter
    times = []
    for _ in range(count):
        start = clock()
        await call()
        times.append(clock() - start)
    return times


# --- the emulator, in a process of its own -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class EmulatorProcess:
    address: str
    api_key: str
    api_key_id: str
    org_id: str
    large_invoice_id: str
    large_pdf_size: int

    @property
    def host_port(self) -> tuple[str, int]:
        host, port = self.address.rsplit(":", 1)
        return host, int(port)

    def connect_options(self) -> dict[str, Any]:
        return {"address": self.address, "api_key": self.api_key, "api_key_id": self.api_key_id, "insecure": True}


@contextmanager
def emulator_process(settings: Settings) -> Iterator[EmulatorProcess]:
    """``python -m viam_billing_grpc.emulator`` on a free loopback port, with the large invoice; stopped after."""
    from viam_billing_grpc.emulator import ACME_ORG_ID, DEFAULT_API_KEY, DEFAULT_API_KEY_ID
    from viam_billing_grpc.emulator.__main__ import LARGE_INVOICE_ID

    command = [sys.executable, "-m", "viam_billing_grpc.emulator", "--host", "127.0.0.1", "--port", "0"]
    command += ["--large-pdf-mib", str(settings.pdf_mib), "--chunk-size", str(settings.chunk_kib << 10)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIAM_EMULATOR_")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        if "listening on" not in lines[0] or "large invoice" not in lines[2]:
            raise SystemExit(f"the emulator did not start: {lines!r}")
        yield EmulatorProcess(
            address=lines[0].rsplit(" ", 1)[1].strip(),
            api_key=DEFAULT_API_KEY,
            api_key_id=DEFAULT_API_KEY_ID,
            org_id=ACME_ORG_ID,
            large_invoice_id=LARGE_INVOICE_ID,
            large_pdf_size=settings.pdf_mib << 20,
        )
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- the raw grpclib stub: our generated message classes, nothing else ---------------------------------------


class RawStub:
    """What a user of grpclib alone writes: ``Channel.request`` with the generated classes and Bearer metadata.

    Made and used on one asyncio event loop; :meth:`close` closes the channel.
    """

    def __init__(self, emulator: EmulatorProcess) -> None:
        from grpclib.client import Channel

        host, port = emulator.host_port
        self.channel = Channel(host, port)
        self.metadata: dict[str, str] = {}
        self._emulator = emulator

    async def authenticate(self) -> str:
        """One ``Authenticate`` call; the token goes into :attr:`metadata` (and is returned, for the SDK)."""
        from grpclib.const import Cardinality
        from viam_billing_grpc import AUTH_PATH
        from viam_billing_protos._generated import auth_pb

        request = auth_pb.AuthenticateRequest(
            entity=self._emulator.api_key_id,
            credentials=auth_pb.Credentials(type="api-key", payload=self._emulator.api_key),
        )
        async with self.channel.request(
            AUTH_PATH, Cardinality.UNARY_UNARY, auth_pb.AuthenticateRequest, auth_pb.AuthenticateResponse
        ) as stream:
            await stream.send_message(request, end=True)
            reply = await stream.recv_message()
        assert reply is not None
        token = str(reply.access_token)
        self.metadata = {"authorization": f"Bearer {token}"}
        return token

    def read(self, rpc: str) -> Callable[[], Awaitable[object]]:
        """A call of the unary read ``rpc`` for the emulator's organization, returning the reply message."""
        import viam_billing as vb
        from grpclib.const import Cardinality
        from viam_billing_protos._generated import billing_pb

        path = vb.operation(rpc).path
        request_type = getattr(billing_pb, f"{rpc}Request")
        reply_type = getattr(billing_pb, f"{rpc}Response")
        fields = request_type.DESCRIPTOR.fields_by_name
        message = request_type(org_id=self._emulator.org_id) if "org_id" in fields else request_type()
        channel, unary, metadata = self.channel, Cardinality.UNARY_UNARY, self.metadata

        async def call() -> object:
            async with channel.request(
                path, unary, request_type, reply_type, timeout=TIMEOUT, metadata=metadata
            ) as stream:
                await stream.send_message(message, end=True)
                return await stream.recv_message()

        return call

    async def pdf_to_file(self, invoice_id: str, path: str) -> int:
        """Stream the invoice PDF into ``path`` chunk by chunk, as the SDK's ``get_invoice_pdf`` does."""
        import viam_billing as vb
        from grpclib.const import Cardinality
        from viam_billing_protos._generated import billing_pb

        size = 0
        async with self.channel.request(
            vb.operation("GetInvoicePdf").path,
            Cardinality.UNARY_STREAM,
            billing_pb.GetInvoicePdfRequest,
            billing_pb.GetInvoicePdfResponse,
            timeout=None,
            metadata=self.metadata,
        ) as stream:
            await stream.send_message(
                billing_pb.GetInvoicePdfRequest(id=invoice_id, org_id=self._emulator.org_id), end=True
            )
            with open(path, "wb") as file:  # noqa: ASYNC230 - the raw baseline writes as the SDK does
                async for reply in stream:
                    file.write(reply.chunk)
                    size += len(reply.chunk)
        return size

    def close(self) -> None:
        self.channel.close()


def ours_read(billing: Any, rpc: str, org_id: str) -> Callable[[], Awaitable[object]]:
    """Our client's typed method for the read ``rpc``."""
    method = {
        "GetCurrentMonthUsage": billing.get_current_month_usage,
        "GetInvoicesSummary": billing.get_invoices_summary,
        "GetOrgBillingInformation": billing.get_org_billing_information,
    }[rpc]
    return lambda: method(org_id, timeout=TIMEOUT)


def sdk_available() -> str:
    """Empty when viam-sdk can be imported, else why not (the rows that need it say so)."""
    try:
        import viam.app.billing_client  # type: ignore[import-not-found,unused-ignore]  # noqa: F401
    except Exception as exc:  # pragma: no cover - depends on the environment
        return f"viam-sdk is not installed here ({type(exc).__name__}); `nox -s bench` installs it"
    return ""
