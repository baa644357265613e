"""Export the emulator's organizations with the ``focus`` sink and check both files with the FinOps Foundation's
validator. Run by ``nox -s focus`` (Python 3.12, ``focus-validator`` installed); not a pytest module.

Every organization the emulator's key owns is exported (Globex's usage has a line of cost type 99, newer than any
client, which must be in the files) to CSV and to Parquet. ``focus-validator --validate-version 1.2
--block-download`` then checks each file, run from the folder that holds the ``focus_validator`` package (it reads
its bundled ``focus_validator/rules/currency_codes.csv`` by a relative path). The run fails on any failed rule,
with one exception the validator itself forces: see :data:`TOLERATED`.

Exit status 0 when both files pass; 1 otherwise, with the validator's output of the failing file.
"""

from __future__ import annotations

import csv
import importlib.util
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import anyio
import viam_billing
from viam_billing_grpc.emulator import UNKNOWN_USAGE_COST_TYPE, Emulator

TOLERATED = {"InvoiceId-C-005-C": "InvoiceId-C-003-C"}
"""Failed rules accepted when the validator reports the rule beside them passed.

FOCUS 1.2 says InvoiceId "MUST be null when the charge is not associated with an invoice" (C-004) and "MUST NOT
be null when it is" (C-005), one OR rule (C-003) over the two. The 1.2 rule set gives neither a condition (the
condition is not in the data), so validator 2.2.1 runs both on every row: any non-empty dataset fails one of them
while C-003 passes. Our rows are the month so far, not yet invoiced, so InvoiceId is null: C-004 holds and C-005
is reported. Only that failure, and only while C-003 passes, is accepted; any other fails the run.
"""

_TOTALS = re.compile(r"^Total: (\d+) \| Pass: (\d+) \| Fail: (\d+) \| Skipped: (\d+)$", re.MULTILINE)
_RESULT = re.compile(r"^\S+ ([A-Za-z]+-[A-Z]-\d{3}-[A-Z]): (PASS|FAIL|SKIPPED)\b", re.MULTILINE)


async def export(paths: list[Path]) -> list[str]:
    """Export every organization the emulator's key owns to ``paths`` (one ``focus`` sink each)."""
    async with Emulator() as emulator:
        sinks = [f"focus:{path}" for path in paths]
        async with viam_billing.connect(**emulator.connect_options(), sinks=sinks) as billing:
            for org_id in emulator.org_ids:
                await billing.get_current_month_usage(org_id)
        return list(emulator.org_ids)


def validator_home() -> Path:
    """The folder holding the installed ``focus_validator`` package."""
    spec = importlib.util.find_spec("focus_validator")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("focus_validator is not installed: nox -s focus installs it (focus-validator==2.2.1)")
    return Path(next(iter(spec.submodule_search_locations))).parent


def validate(path: Path) -> bool:
    """Run the validator on ``path``; print its totals line and verdict; return whether it passed."""
    command = [str(Path(sys.executable).with_name("focus-validator")), "--data-file", str(path),
               "--validate-version", "1.2", "--block-download"]  # fmt: skip
    env = {**os.environ, "PYTHONIOENCODING": "utf-8"}
    done = subprocess.run(command, cwd=validator_home(), capture_output=True, text=True, env=env, check=False)
    output = done.stdout + done.stderr
    totals = _TOTALS.search(output)
    if done.returncode != 0 or totals is None:
        print(output)
        print(f"{path.name}: the validator exited {done.returncode} without a totals line")
        return False
    status = dict(_RESULT.findall(output))
    failed = sorted(rule for rule, result in status.items() if result == "FAIL")
    excused = [rule for rule in failed if status.get(TOLERATED.get(rule, ""), "") == "PASS"]
    left = [rule for rule in failed if rule not in excused]
    if len(failed) != int(totals.group(3)):
        print(output)
        print(f"{path.name}: {len(failed)} FAIL lines but the totals say {totals.group(3)}; the output changed")
        return False
    print(f"{path.name}: {totals.group(0)}")
    for rule in excused:
        print(f"  tolerated: {rule} (its OR rule {TOLERATED[rule]} passes; see TOLERATED in {Path(__file__).name})")
    if left:
        print(output)
        print(f"{path.name}: FAILED rules: {', '.join(left)}")
        return False
    print(f"{path.name}: passed" + (f" ({len(excused)} tolerated)" if excused else " with no failed rule"))
    return True


def main() -> int:
    with tempfile.TemporaryDirectory(prefix="viam-billing-focus-") as folder:
        paths = [Path(folder, "viam-focus.csv"), Path(folder, "viam-focus.parquet")]
        org_ids = anyio.run(export, paths)
        with open(paths[0], encoding="utf-8", newline="") as file:
            rows = list(csv.DictReader(file))
        exported = {row["BillingAccountId"] for row in rows}
        if exported != set(org_ids) or not any(row["x_ViamCostTypeId"] == str(UNKNOWN_USAGE_COST_TYPE) for row in rows):
            print(f"the CSV holds organizations {sorted(exported)} (expected {sorted(org_ids)}), and needs a row of "
                  f"cost type {UNKNOWN_USAGE_COST_TYPE}")  # fmt: skip
            return 1
        print(f"exported {len(rows)} rows of {len(org_ids)} organizations, cost type {UNKNOWN_USAGE_COST_TYPE} in them")
        results = [validate(path) for path in paths]
    return 0 if all(results) else 1


if __name__ == "__main__":
    sys.exit(main())
