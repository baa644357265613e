"""``viam-billing export`` at scale, against an emulator that answers each call after a fixed latency.

The emulator runs in a process of its own (``python -m viam_billing_grpc.emulator --orgs N --latency S
--chunk-size 65536``): N generated organizations, each exported in five calls (usage, invoices, billing
information, two invoice PDFs of about 1.4 KB, one chunk each). The export is the real command line in a fresh
process, ``viam-billing export --org ... --concurrency C --sink sqlite:DB --sink pdf:DIR`` into a fresh directory
each run, and is measured from the outside: wall time, and the process's own CPU time and peak RSS
(``os.wait4``; the peak RSS as ``/proc/PID/status`` reports it). Three figures, each the issue's goal:

- 1,000 organizations at ``--concurrency 32``, 50 ms per call: wall time ≤ 6.2 s (0.8 x the 7.8 s that calls
  one after another inside each organization would take at best);
- peak RSS of the 1,000-organization export minus that of a 200-organization one: ≤ 16 MiB;
- 200 organizations at ``--concurrency 1`` / at ``--concurrency 32``: ≥ 8.

Both sides share a 2-core machine, so the machine's load average goes into each note. Settings:
``BENCH_EXPORT_ORGS`` (1,000; 40 with ``--quick``), ``BENCH_EXPORT_SMALL`` (200; 8), ``BENCH_EXPORT_RUNS`` (3;
1), ``BENCH_EXPORT_LATENCY_MS`` (50), ``BENCH_EXPORT_CONCURRENCY`` (32). ``python -m benchmarks._export_scale``
runs this suite alone and prints its rows.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass

from ._harness import Row, Settings, Target

_MiB = 1 << 20


def _setting(name: str, default: int, quick: int, settings: Settings) -> int:
    text = os.environ.get(f"BENCH_EXPORT_{name}")
    if text is None:
        return quick if settings.calls < 100 else default
    if not text.strip().isdigit() or int(text) < 1:
        raise SystemExit(f"BENCH_EXPORT_{name} must be a positive integer, got {text!r}")
    return int(text)


@dataclass(frozen=True)
class Scale:
    orgs: int
    small: int
    runs: int
    latency_ms: int
    concurrency: int

    @classmethod
    def of(cls, settings: Settings) -> Scale:
        return cls(
            orgs=_setting("ORGS", 1000, 40, settings),
            small=_setting("SMALL", 200, 8, settings),
            runs=_setting("RUNS", 3, 1, settings),
            latency_ms=_setting("LATENCY_MS", 50, 50, settings),
            concurrency=_setting("CONCURRENCY", 32, 32, settings),
        )


@dataclass(frozen=True)
class Export:
    """One export, seen from outside: wall seconds, CPU seconds (user, system) and peak RSS in bytes."""

    wall: float
    user: float
    system: float
    peak_rss: int


@contextlib.contextmanager
def _emulator(orgs: int, latency_ms: int) -> Iterator[str]:
    command = [sys.executable, "-m", "viam_billing_grpc.emulator", "--port", "0", "--orgs", str(orgs)]
    command += ["--latency", str(latency_ms / 1000), "--chunk-size", "65536"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIAM_")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    try:
        assert process.stdout is not None
        first = process.stdout.readline()
        if "listening on" not in first:
            raise SystemExit(f"the emulator did not start: {first!r}")
        yield first.rsplit(" ", 1)[1].strip()
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


def export(address: str, orgs: int, concurrency: int) -> Export:
    """Export the first ``orgs`` generated organizations with the real command line, in a fresh directory."""
    from viam_billing_grpc.emulator import DEFAULT_API_KEY, DEFAULT_API_KEY_ID, generated_org_id

    with tempfile.TemporaryDirectory(prefix="viam-billing-export-") as directory:
        command = [sys.executable, "-m", "viam_billing_cli", "--address", address, "--insecure", "export"]
        command += [arg for n in range(1, orgs + 1) for arg in ("--org", generated_org_id(n))]
        command += ["--concurrency", str(concurrency), "--sink", "sqlite:history.db", "--sink", "pdf:invoices"]
        env = {k: v for k, v in os.environ.items() if not k.startswith("VIAM_")}
        env.update(VIAM_API_KEY=DEFAULT_API_KEY, VIAM_API_KEY_ID=DEFAULT_API_KEY_ID)
        start = time.perf_counter()
        with tempfile.TemporaryFile("w+") as errors:
            process = subprocess.Popen(command, cwd=directory, env=env, stdout=subprocess.DEVNULL, stderr=errors)
            peak_rss = _peak_rss_until_exit(process.pid)
            _, status, usage = os.wait4(process.pid, 0)
            wall = time.perf_counter() - start
            process.returncode = os.waitstatus_to_exitcode(status)
            errors.seek(0)
            told = errors.read()
        pdfs = sum(1 for _ in os.scandir(os.path.join(directory, "invoices")))
    if process.returncode != 0 or pdfs != orgs:
        raise SystemExit(f"the export of {orgs} organizations failed ({process.returncode}):\n{told[-2000:]}")
    return Export(wall=wall, user=usage.ru_utime, system=usage.ru_stime, peak_rss=peak_rss)


def _peak_rss_until_exit(pid: int) -> int:
    """The process's peak RSS in bytes (``VmHWM``), read every 10 ms until it exits; the last value read.

    Not ``ru_maxrss``: Linux starts a child's with its parent's peak (the parent's memory, copied or shared at
    fork, counts until the exec), so a parent bigger than the export hides the export's own figure. ``VmHWM``
    belongs to the memory the export itself mapped after its exec.
    """
    peak = 0
    while True:
        try:
            with open(f"/proc/{pid}/status", encoding="ascii") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        peak = max(peak, int(line.split()[1]) * 1024)
                        break
                else:  # a zombie: its memory is gone, its peak read before
                    return peak
        except (FileNotFoundError, ProcessLookupError):
            return peak
        time.sleep(0.01)


def _load() -> str:
    try:
        return "load average {:.2f}, {:.2f}, {:.2f}".format(*os.getloadavg())
    except OSError:  # pragma: no cover - no load average here
        return "load average unknown"


def run(settings: Settings) -> list[Row]:
    scale = Scale.of(settings)
    big: list[Export] = []
    small: list[Export] = []
    serial: list[Export] = []
    loads = []
    with _emulator(scale.orgs, scale.latency_ms) as address:
        export(address, min(scale.small, 20), scale.concurrency)  # warm-up: caches, the emulator's code paths
        for _ in range(scale.runs):
            loads.append(_load())
            big.append(export(address, scale.orgs, scale.concurrency))
            small.append(export(address, scale.small, scale.concurrency))
            serial.append(export(address, scale.small, 1))
    ideal = scale.orgs / scale.concurrency * 5 * scale.latency_ms / 1000
    cpu = ", ".join(f"{e.user:.1f} s user + {e.system:.1f} s system" for e in big)
    where = (
        f"{scale.latency_ms} ms per call, emulator in its own process, sinks sqlite and pdf, a fresh directory "
        f"each run; {'; '.join(loads)} before each run"
    )
    return [
        Row(
            key="export-wall",
            figure=f"export of {scale.orgs:,} organizations, --concurrency {scale.concurrency}, "
            f"{scale.latency_ms} ms per call: wall time",
            unit="s",
            target=Target("value", "<=", round(0.8 * ideal, 1)),
            note=f"{where}. CPU of the export process: {cpu}. Calls one after another in each organization take "
            f"at least {ideal:.1f} s; side by side (two rounds per organization), {ideal * 2 / 5:.1f} s",
        ).measured([e.wall for e in big]),
        Row(
            key="export-rss-growth",
            figure=f"peak RSS of that export minus that of {scale.small:,} organizations",
            unit="MiB",
            target=Target("value", "<=", 16.0),
            baseline_name=f"peak RSS of the {scale.small:,}-organization export (for reference)",
            note=f"{where}. Peak RSS (VmHWM) of the export process, run by run; the progress display and "
            "the summary stay bounded whatever the number of organizations",
        ).measured(
            [(b.peak_rss - s.peak_rss) / _MiB for b, s in zip(big, small, strict=True)],
            [s.peak_rss / _MiB for s in small],
        ),
        Row(
            key="export-speedup",
            figure=f"{scale.small:,} organizations: --concurrency 1 / --concurrency {scale.concurrency}, wall time",
            unit="s",
            target=Target("ratio", ">=", 8.0),
            baseline_name=f"--concurrency {scale.concurrency}",
            note=f"{where}. Ours is --concurrency 1, the baseline --concurrency {scale.concurrency}: the ratio "
            "is how many times faster the concurrent export is",
        ).measured([e.wall for e in serial], [e.wall for e in small]),
    ]


if __name__ == "__main__":
    for row in run(Settings().from_environment()):
        figure = row.ratio if row.target.what == "ratio" else row.ours
        assert figure is not None
        print(f"{row.key:20} {figure.median:10.3f} ({figure.low:.3f} to {figure.high:.3f})  met: {row.met}")
        print(f"    {row.note}")
