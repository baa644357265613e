"""Fresh interpreters beside the SDK: ``import viam_billing`` alone, and the time to a first result.

Each run starts two fresh interpreters, ours and the SDK's in turn (the order alternating from run to run), each
timing itself from before its first import; the ratio is taken run by run. Interpreter start-up is the same for
both and left out. The probes run isolated (``python -I``: no current directory on ``sys.path``, no ``PYTHON*``
variables) with nothing of our environment, such as ``VIAM_API_KEY``, in theirs.

- Cold import: ``import viam_billing`` (models, errors, enums and the operation table; the client, anyio and the
  plugins load on first use) beside ``from viam.app.billing_client import BillingClient``.
- First result: from nothing to a ``get_current_month_usage`` answer in hand, against the emulator in its own
  process. Ours is ``asyncio.run`` of ``viam_billing.connect(address=..., api_key=..., api_key_id=...,
  insecure=True)`` and the call; the SDK's is ``ViamClient.create_from_dial_options`` (an API key, ``insecure``,
  WebRTC disabled, the emulator as ``app_url``) and ``billing_client.get_current_month_usage``. Both dial one
  HTTP/2 connection, call ``AuthService/Authenticate``, then the read; the clock stops when the answer is in hand,
  before either closes its channel.

One unmeasured run of each probe first compiles and caches the bytecode; it also runs under an audit hook that
kills the probe if it tries to resolve or reach any address but loopback, so a probe that would talk to
app.viam.com fails instead of being measured.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable

from ._harness import EmulatorProcess, Row, Settings, Target, sdk_available

IMPORT_OURS = """
import time
start = time.perf_counter()
import viam_billing
elapsed = time.perf_counter() - start
print(elapsed)
"""

IMPORT_SDK = """
import time
start = time.perf_counter()
from viam.app.billing_client import BillingClient
elapsed = time.perf_counter() - start
print(elapsed)
"""

# Both first-result probes take the address, API key, API key id and organization id as arguments, check that
# the answer is a real one and print the seconds it took to have it.
FIRST_OURS = """
import time
start = time.perf_counter()
import asyncio
import sys
import viam_billing

async def first(address, api_key, api_key_id, org_id):
    async with viam_billing.connect(address=address, api_key=api_key, api_key_id=api_key_id, insecure=True) as billing:
        usage = await billing.get_current_month_usage(org_id)
        return time.perf_counter() - start, usage

elapsed, usage = asyncio.run(first(*sys.argv[1:]))
assert type(usage).__name__ == "GetCurrentMonthUsageResponse" and usage.total_usage_with_discount > 0, usage
print(elapsed)
"""

FIRST_SDK = """
import time
start = time.perf_counter()
import asyncio
import sys
from viam.app.viam_client import ViamClient
from viam.rpc.dial import Credentials, DialOptions

async def first(address, api_key, api_key_id, org_id):
    options = DialOptions(
        credentials=Credentials(type="api-key", payload=api_key),
        auth_entity=api_key_id,
        insecure=True,
        disable_webrtc=True,
    )
    async with await ViamClient.create_from_dial_options(options, app_url=address) as client:
        usage = await client.billing_client.get_current_month_usage(org_id)
        return time.perf_counter() - start, usage

elapsed, usage = asyncio.run(first(*sys.argv[1:]))
assert type(usage).__name__ == "GetCurrentMonthUsageResponse" and usage.total_usage_with_discount > 0, usage
print(elapsed)
"""

LOOPBACK_ONLY = """
import os as _os
import sys as _sys

def _loopback_only(event, args):
    # An audit hook runs before the call it audits: exiting here means nothing left the machine.
    if event in ("socket.connect", "socket.sendto", "socket.sendmsg"):
        address = args[1]
    elif event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyaddr"):
        address = args[0]
    elif event == "ctypes.dlopen" and "viam" in str(args[0]):
        _refuse(f"loaded {args[0]}, native code that dials by itself out of this hook's sight")
    else:
        return
    if address is None and event == "socket.sendmsg":
        return  # a connected socket, checked when it connected
    host = address[0] if isinstance(address, tuple) else address
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    if host not in ("127.0.0.1", "::1", "localhost", None):
        _refuse(f"tried to reach {address!r} ({event})")

def _refuse(what):
    _sys.stderr.write(f"the probe {what}; only loopback is allowed\\n")
    _sys.stderr.flush()
    _os._exit(97)

_sys.addaudithook(_loopback_only)
"""
"""Prepended to a probe's unmeasured first run: the probe dies with status 97, naming the address, on its first
attempt to resolve or reach anything but loopback. A Unix socket path counts as not loopback, and so does loading
the SDK's native library: its WebRTC dialer reaches app.viam.com from Rust, then hands Python a Unix socket."""


def fresh(code: str, *args: str) -> float:
    """Seconds ``code`` prints from a fresh, isolated interpreter given ``args``; exits naming the failure."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}
    command = [sys.executable, "-I", "-c", code, *args]
    try:
        result = subprocess.run(command, capture_output=True, text=True, check=False, env=env, timeout=120)
    except subprocess.TimeoutExpired as exc:
        raise SystemExit(f"a fresh-interpreter probe did not finish in {exc.timeout:.0f} s") from None
    if result.returncode != 0:
        raise SystemExit(f"a fresh-interpreter probe failed (exit status {result.returncode}):\n{result.stderr}")
    return float(result.stdout)


def _paired(ours: Callable[[], float], sdk: Callable[[], float], runs: int) -> tuple[list[float], list[float]]:
    """Milliseconds of ``runs`` runs of each side, the side going first alternating from run to run."""
    ours_ms: list[float] = []
    sdk_ms: list[float] = []
    for index in range(runs):
        pair = [(ours, ours_ms), (sdk, sdk_ms)]
        for probe, into in pair if index % 2 == 0 else pair[::-1]:
            into.append(probe() * 1e3)
    return ours_ms, sdk_ms


def _measure(row: Row, ours: str, sdk: str, args: tuple[str, ...], runs: int) -> Row:
    """``row`` measured with the probes ``ours`` and ``sdk`` (or ours alone, skipped, without viam-sdk)."""
    fresh(LOOPBACK_ONLY + ours, *args)
    missing = sdk_available()
    if missing:
        return row.measured([fresh(ours, *args) * 1e3 for _ in range(runs)]).skip(missing)
    fresh(LOOPBACK_ONLY + sdk, *args)
    return row.measured(*_paired(lambda: fresh(ours, *args), lambda: fresh(sdk, *args), runs))


def cold_import(settings: Settings) -> list[Row]:
    row = Row(
        key="cold-import",
        figure="`import viam_billing` / `from viam.app.billing_client import BillingClient`, fresh interpreter",
        unit="ms",
        target=Target("ratio", "<=", 0.5),
        baseline_name="viam-sdk 0.85.1 import",
        note="fresh interpreters, ours and the SDK's in turn; interpreter start-up left out; `import viam_billing` "
        "loads models, errors, enums and the operation table (the client, anyio and plugins load on first use)",
    )
    return [_measure(row, IMPORT_OURS, IMPORT_SDK, (), settings.import_runs)]


def first_result(emulator: EmulatorProcess, settings: Settings) -> list[Row]:
    row = Row(
        key="first-result",
        figure="time to a first result in a fresh process: import, connect with an API key, "
        "`get_current_month_usage` / viam-sdk `ViamClient.create_from_dial_options` + `billing_client` call",
        unit="ms",
        target=Target("ratio", "<=", 0.75),
        baseline_name="viam-sdk 0.85.1 ViamClient",
        note="fresh interpreters in turn, each timing itself from before its first import until the answer is in "
        "hand: ours `asyncio.run` of `viam_billing.connect(address, api_key, api_key_id, insecure=True)` and the "
        "call, the SDK's `create_from_dial_options` (API key, insecure, WebRTC disabled, the emulator as "
        "`app_url`) and the call; each side authenticates, then reads, on one new connection to the emulator; "
        "interpreter start-up left out; a first unmeasured run of each checks that only loopback is contacted",
    )
    args = (emulator.address, emulator.api_key, emulator.api_key_id, emulator.org_id)
    return [_measure(row, FIRST_OURS, FIRST_SDK, args, settings.import_runs)]
