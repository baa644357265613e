"""Cold import: a fresh interpreter, from nothing to a usable client with the grpc transport, beside the SDK.

Each run starts two fresh interpreters, ours and the SDK's in turn (the order alternating), each timing itself
from before its first import to after its last line: for ours ``import viam_billing`` and
``viam_billing.connect(...)`` (plugins discovered, the grpc transport built; nothing is dialled before the first
call), for the SDK ``from viam.app.billing_client import BillingClient``. Interpreter start-up is the same for
both and left out. One unmeasured run of each first compiles and caches the bytecode.
"""

from __future__ import annotations

import subprocess
import sys

from ._harness import Row, Settings, Target, sdk_available

OURS = """
import time
start = time.perf_counter()
import viam_billing
client = viam_billing.connect(address="127.0.0.1:9", api_key="k" * 24, api_key_id="key-id", insecure=True)
elapsed = time.perf_counter() - start
assert type(client.transport).__name__ == "GrpcTransport", client.transport
print(elapsed)
"""

SDK = """
import time
start = time.perf_counter()
from viam.app.billing_client import BillingClient
elapsed = time.perf_counter() - start
print(elapsed)
"""


def cold(code: str) -> float:
    """Seconds ``code`` reports from a fresh interpreter."""
    env = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}  # nothing of ours, such as VIAM_API_KEY, leaks in
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False, env=env)
    if result.returncode != 0:
        raise SystemExit(f"the cold-import probe failed:\n{result.stderr}")
    return float(result.stdout)


def run(settings: Settings) -> list[Row]:
    row = Row(
        key="cold-import",
        figure="cold import up to a usable client with the grpc transport / `from viam.app.billing_client import "
        "BillingClient`",
        unit="ms",
        target=Target("ratio", "<=", 0.5),
        baseline_name="viam-sdk 0.85.1 import",
        note="fresh interpreters, ours and the SDK's in turn; interpreter start-up left out",
    )
    missing = sdk_available()
    cold(OURS)
    if missing:
        return [row.measured([cold(OURS) * 1e3 for _ in range(settings.import_runs)]).skip(missing)]
    cold(SDK)
    ours: list[float] = []
    sdk: list[float] = []
    for index in range(settings.import_runs):
        if index % 2 == 0:
            ours.append(cold(OURS) * 1e3)
            sdk.append(cold(SDK) * 1e3)
        else:
            sdk.append(cold(SDK) * 1e3)
            ours.append(cold(OURS) * 1e3)
    return [row.measured(ours, sdk)]
