"""One emulator command line from both entry points: same help, options, defaults and printed lines; a friendly
busy port; a quiet log when clients go away mid-download."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time

import anyio
import pytest
import viam_billing as vb

from .conftest import command_line

pytest.importorskip("viam_billing_grpc.emulator", reason="the grpc plugin's emulator is not installed")

from viam_billing_grpc.emulator import ACME_ORG_ID, generated_org_id

MODULE = [sys.executable, "-m", "viam_billing_grpc.emulator"]
CLI = command_line("emulator")
ENV = {**{k: v for k, v in os.environ.items() if not k.startswith("VIAM_")}, "COLUMNS": "100", "PYTHONUNBUFFERED": "1"}


def test_both_entry_points_print_the_same_help():
    helps = [
        subprocess.run([*command, "--help"], capture_output=True, text=True, env=ENV, timeout=60, check=True).stdout
        for command in (MODULE, CLI)
    ]
    assert helps[0].replace("python -m viam_billing_grpc.emulator", "PROG") == helps[1].replace(
        "viam-billing emulator", "PROG"
    )
    assert "[default: 50051;" in helps[0]
    for option in ("--port", "--orgs N", "--latency SECONDS", "--large-pdf-mib N", "--chunk-size", "--api-key"):
        assert option in helps[0]


def _serve(command: list[str]) -> tuple[subprocess.Popen[str], list[str]]:
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or lines[-1] != "Ctrl-C stops it.":
        line = process.stdout.readline()
        assert line, process.communicate()
        lines.append(line.rstrip("\n"))
    return process, lines


def test_both_entry_points_serve_alike_with_generated_organizations_and_latency():
    args = ["--port", "0", "--orgs", "2", "--latency", "0.3"]
    served = [_serve([*command, *args]) for command in (MODULE, CLI)]
    try:
        addresses = [lines[0].rsplit(" ", 1)[1] for _, lines in served]
        first, second = ([line.replace(address, "ADDRESS") for line in lines]
                         for address, (_, lines) in zip(addresses, served, strict=True))  # fmt: skip
        assert first == second
        assert first[0] == "viam-billing emulator listening on ADDRESS"
        assert first[1].endswith(f"; 2 generated: {generated_org_id(1)} to {generated_org_id(2)}")
        key_id, key = (line.split("=", 1)[1] for line in first[3:5])

        async def timed_call() -> float:
            async with vb.connect(address=addresses[1], api_key=key, api_key_id=key_id, insecure=True,
                                  timeout=30) as billing:  # fmt: skip
                await billing.get_available_billing_tiers()
                start = time.monotonic()
                usage = await billing.get_current_month_usage(generated_org_id(2))
                assert usage.subtotal > 0
                return time.monotonic() - start

        assert anyio.run(timed_call) >= 0.3
    finally:
        for process, _ in served:
            process.send_signal(signal.SIGINT)
    for process, _ in served:
        process.communicate(timeout=30)
    assert [process.returncode for process, _ in served] == [0, 0]


@pytest.mark.parametrize("command", [MODULE, CLI], ids=["python-m", "viam-billing"])
def test_a_busy_port_is_one_friendly_line_naming_port_0(command):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        done = subprocess.run([*command, "--port", str(port)], capture_output=True, text=True, env=ENV, timeout=60,
                              check=False)  # fmt: skip
    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: cannot listen on 127.0.0.1:{port}: port {port} is already in use; pick another with --port N, "
        "or --port 0 for any free port"
    ]


def test_clients_that_go_away_mid_download_leave_the_log_quiet(tmp_path):
    process, lines = _serve([*CLI, "--port", "0", "--large-pdf-mib", "16"])
    address = lines[0].rsplit(" ", 1)[1]
    key_id, key = (line.split("=", 1)[1] for line in lines[4:6])
    env = {**ENV, "VIAM_API_KEY": key, "VIAM_API_KEY_ID": key_id}
    try:
        for attempt in range(2):
            client = subprocess.Popen(
                command_line("--address", address, "--insecure", "invoice-pdf", ACME_ORG_ID, "inv-acme-large", "-o",
                             f"big{attempt}.pdf"),
                cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 30
            while not any(p.stat().st_size > (1 << 20) for p in tmp_path.glob(".*.part")):
                assert client.poll() is None
                assert time.monotonic() < deadline
                time.sleep(0.02)
            client.kill()  # gone without a word, as a crashed client goes
            client.wait()
        time.sleep(0.5)
    finally:
        process.send_signal(signal.SIGINT)
    _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert "socket.send() raised exception" not in err
    assert err == ""
