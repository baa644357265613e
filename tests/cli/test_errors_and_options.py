"""Errors in the command line's words with documented exit statuses, PDFs to stdout, global options anywhere,
the address from the environment, and plaintext only on request (nothing is dialled otherwise)."""

from __future__ import annotations

import os
import socket
import subprocess
import threading

import pytest
from viam_billing_cli import main

from .conftest import command_line

pytest.importorskip("viam_billing_grpc.emulator", reason="the grpc plugin's emulator is not installed")

from viam_billing_grpc.emulator import ACME_ORG_ID


@pytest.mark.parametrize(
    ("target", "reason"),
    [("missing/x.pdf", "the folder"), ("adir", "it is a directory"), ("/sys/x.pdf", "Permission denied")],
    ids=["no-folder", "a-directory", "not-writable"],
)
def test_a_pdf_that_cannot_be_written_is_a_file_error_naming_the_destination(cli, tmp_path, target, reason):
    (tmp_path / "adir").mkdir()
    code, _, err = cli("invoice-pdf", ACME_ORG_ID, "inv-acme-0001", "-o", target)
    assert code == 7
    assert err.startswith(f"error: cannot write {target}: ")
    assert reason in err
    assert ".part" not in err
    assert "Errno" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["adir"]


def test_dash_o_dash_writes_the_pdf_to_stdout(emulator, cli_env, tmp_path):
    done = subprocess.run(command_line("--insecure", "invoice-pdf", ACME_ORG_ID, "inv-acme-0001", "-o", "-"),
                          cwd=tmp_path, env=cli_env, capture_output=True, timeout=60, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == emulator.pdf(ACME_ORG_ID, "inv-acme-0001")
    assert b"wrote inv-acme-0001 to standard output" in done.stderr
    assert list(tmp_path.iterdir()) == []  # no file named "-"


def test_no_answer_in_time_has_its_own_exit_status_and_names_the_option(cli, emulator):
    emulator.delay("GetInvoicesSummary", 5)
    code, _, err = cli("invoices", ACME_ORG_ID, "--timeout", "0.3")
    assert code == 8
    assert err.splitlines() == [
        "error: GetInvoicesSummary got no answer within the deadline of 0.3 s; if the service is just slow, pass a "
        "longer --timeout SECONDS"
    ]


def test_the_default_deadline_shows_in_the_help(run):
    assert "--timeout SECONDS" in run("--help").out
    assert "[default: 60.0; x>0]" in " ".join(run("--help").out.split())
    assert "[default: 60.0; x>0]" in " ".join(run("usage", "--help").out.split())
    assert "Global options (before or after the command)" in run("usage", "--help").out


def test_global_options_work_after_the_command_and_win_there(emulator, monkeypatch, capsys):
    monkeypatch.setenv("VIAM_API_KEY", emulator.api_key)
    monkeypatch.setenv("VIAM_API_KEY_ID", emulator.api_key_id)
    for argv in (
        ["tiers", "--address", emulator.address, "--insecure", "-f", "json"],
        ["--address", "127.0.0.1:9", "tiers", "--address", emulator.address, "--insecure", "-f", "json"],
    ):
        with pytest.raises(SystemExit) as exited:
            main(argv)
        assert exited.value.code == 0, capsys.readouterr().err
        assert '"tiers"' in capsys.readouterr().out


def test_the_address_comes_from_the_environment(emulator, monkeypatch, capsys):
    monkeypatch.setenv("VIAM_API_KEY", emulator.api_key)
    monkeypatch.setenv("VIAM_API_KEY_ID", emulator.api_key_id)
    monkeypatch.setenv("VIAM_BILLING_ADDRESS", emulator.address)
    with pytest.raises(SystemExit) as exited:
        main(["--insecure", "invoices", ACME_ORG_ID, "-f", "json"])
    assert exited.value.code == 0
    assert "inv-acme-0001" in capsys.readouterr().out


@pytest.fixture
def listener():
    """A TCP listener on loopback that counts the connections made to it."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        while not stop.is_set():
            try:
                accepted.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield server.getsockname()[1], accepted
    stop.set()
    thread.join(5)
    server.close()
    for conn in accepted:
        conn.close()


@pytest.mark.parametrize("given", ["option", "environment"])
def test_plaintext_without_insecure_is_refused_before_dialling(listener, monkeypatch, capsys, given):
    port, accepted = listener
    monkeypatch.setenv("VIAM_API_KEY", "a-key-that-must-not-travel-in-clear")
    monkeypatch.setenv("VIAM_API_KEY_ID", "key-id")
    address = f"http://127.0.0.1:{port}"
    if given == "environment":
        monkeypatch.setenv("VIAM_BILLING_ADDRESS", address)
        argv = ["tiers"]
    else:
        argv = ["tiers", "--address", address]
    with pytest.raises(SystemExit) as exited:
        main(argv)
    err = capsys.readouterr().err
    assert exited.value.code == 2
    assert "is plaintext, which would send the API key unencrypted: add --insecure" in err
    assert accepted == []


def test_plaintext_on_request_reaches_the_emulator(cli, emulator):
    code, out, err = cli("--address", f"http://{emulator.address}", "tiers", "-f", "json")
    assert code == 0, err
    assert '"tiers"' in out


def test_the_listener_does_see_a_client_that_dials(listener):
    """The control of the test above: asked for plaintext, the client dials the same listener (which never
    answers, so the call ends at its deadline). In a process of its own, like the command line it is."""
    port, accepted = listener
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("VIAM_")}, "VIAM_API_KEY": "key",
           "VIAM_API_KEY_ID": "key-id"}  # fmt: skip
    args = command_line("tiers", "--address", f"http://127.0.0.1:{port}", "--insecure", "--timeout", "0.5")
    done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 8, done.stderr
    assert len(accepted) >= 1


def test_an_unreachable_service_is_exit_5_not_a_file_error(monkeypatch, capsys):
    monkeypatch.setenv("VIAM_API_KEY", "key")
    monkeypatch.setenv("VIAM_API_KEY_ID", "key-id")
    with socket.socket() as closed:  # a port nobody listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(SystemExit) as exited:
        main(["tiers", "--address", f"127.0.0.1:{port}", "--insecure", "--timeout", "10"])
    err = capsys.readouterr().err
    assert exited.value.code == 5, err
    assert "(check --address and your network; --insecure only for a local emulator)" in err
