"""The command line end to end against the emulator, through the real gRPC transport on loopback."""

from __future__ import annotations

import json
import os
import re
import sqlite3
import subprocess
import sys

import pytest
from viam_billing import StatusCode
from viam_billing_cli import main

# The emulator ships with the grpc plugin, built in parallel; until it is in the tree these tests wait.
pytest.importorskip("viam_billing_grpc.emulator", reason="the grpc plugin's emulator is not installed")


def test_export_two_orgs_one_failing_then_report(cli, emulator, tmp_path):
    good, bad = emulator.org_ids[0], emulator.org_ids[1]
    emulator.fail_next("GetInvoicesSummary", StatusCode.PERMISSION_DENIED, count=1)
    # The failure goes to whichever org asks first; one org at a time makes that the first one given.
    code, out, err = cli("export", "--org", bad, "--org", good, "--concurrency", "1", "--sink", "sqlite:h.db",
                         "--sink", "pdf:pdfs")  # fmt: skip
    assert code == 1
    assert f"1 of 2 organization(s) failed: {bad}" in err
    assert "PERMISSION_DENIED" in err
    assert out == ""  # no sink writes to stdout: nothing is printed there
    with sqlite3.connect(tmp_path / "h.db") as conn:
        orgs_with_invoices = {row[0] for row in conn.execute("SELECT DISTINCT org_id FROM invoices")}
        invoice_count = conn.execute("SELECT count(*) FROM invoices WHERE org_id = ?", (good,)).fetchone()[0]
    assert orgs_with_invoices == {good}
    pdfs = sorted((tmp_path / "pdfs").rglob("*.pdf"))
    assert len(pdfs) == invoice_count > 0
    assert all(p.read_bytes().startswith(b"%PDF") for p in pdfs)

    code, out, err = cli("report", "--db", "h.db")
    assert code == 0, err
    assert "Usage per month and cost type, before discounts" in out
    assert "Invoices per month" in out


def test_exporting_again_downloads_no_pdf_twice(cli, emulator):
    org = emulator.org_ids[0]
    assert cli("export", "--org", org, "--sink", "sqlite:h.db", "--sink", "pdf:pdfs")[0] == 0
    first = emulator.received["GetInvoicePdf"]
    assert first > 0
    assert cli("--backend", "trio", "export", "--org", org, "--sink", "sqlite:h.db", "--sink", "pdf:pdfs")[0] == 0
    assert emulator.received["GetInvoicePdf"] == first


def test_wrong_credentials_exit_3(cli, monkeypatch, emulator):
    monkeypatch.setenv("VIAM_API_KEY", "not-the-key")
    code, out, err = cli("usage", emulator.org_ids[0])
    assert code == 3
    # One sentence: what happened, the service's words once, what to check.
    assert err.splitlines() == [
        "error: the service refused the credentials (UNAUTHENTICATED): check VIAM_API_KEY_ID and VIAM_API_KEY, "
        "an organization owner's API key id and key (-v shows the service's message)"
    ]
    assert "not-the-key" not in out + err


def test_changes_reach_the_service_and_read_back(cli, emulator):
    first, second = emulator.org_ids[:2]
    location = "loc-acme-warehouse"
    assert json.loads(cli("location-org", location, "-f", "json")[1]) == {"billing_organization_id": first}
    assert cli("set-location-org", location, second, "--yes")[0] == 0
    assert json.loads(cli("location-org", location, "-f", "json")[1]) == {"billing_organization_id": second}

    assert cli("set-tier", first, "business", "--yes")[0] == 0
    assert json.loads(cli("info", first, "-f", "json")[1])["billing_tier"] == "business"
    code, _, err = cli("set-tier", first, "platinum", "--yes")
    assert code == 4
    assert "unknown billing tier 'platinum'" in err

    code, out, _ = cli("send-payment-email", second, first, "--yes")
    assert (code, out.strip().splitlines()[-1]) == (0, "sent")
    assert emulator.emails == [(second, first)]


def test_plugins_and_usage_over_grpc(cli, emulator):
    code, out, _ = cli("plugins")
    assert code == 0
    assert "grpc" in out
    code, out, err = cli("usage", emulator.org_ids[0], "-f", "json")
    assert code == 0, err
    assert '"subtotal"' in out


def test_demo_runs_the_whole_job_offline_in_a_fresh_directory(monkeypatch, capsys, tmp_path):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "200")
    for name in ("VIAM_API_KEY", "VIAM_API_KEY_ID", "VIAM_PRIMARY_ORG_ID"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(SystemExit) as exited:
        main(["demo"])
    out = capsys.readouterr().out
    assert exited.value.code == 0, out
    demo = tmp_path / "viam-billing-demo"
    with sqlite3.connect(demo / "billing.db") as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 3
        assert conn.execute("SELECT count(*) FROM usage_snapshots").fetchone()[0] >= 2
    assert list((demo / "invoices").rglob("*.pdf"))
    assert (demo / "records.jsonl").read_text().count("\n") >= 6
    assert "Export summary" in out
    assert "Usage per month after discounts, US dollars" in out
    assert "Where everything went" in out
    assert str(demo / "billing.db") in out


def test_the_emulator_command_serves_until_stopped(tmp_path):
    env = {**os.environ, "COLUMNS": "200"}
    with subprocess.Popen(
        [sys.executable, "-m", "viam_billing_cli", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    ) as server:
        try:
            assert server.stdout is not None
            lines = [server.stdout.readline() for _ in range(5)]
            address = re.search(r"listening on (\S+)", lines[0]).group(1)
            key_id = lines[3].split("=", 1)[1].strip()
            key = lines[4].split("=", 1)[1].strip()
            org = re.search(r"organizations: ([^,)]+)", lines[1]).group(1)
            command = [sys.executable, "-m", "viam_billing_cli", "--address", address, "--insecure", "invoices", org]
            client = subprocess.run(
                [*command, "-f", "json"],
                capture_output=True,
                text=True,
                timeout=60,
                env={**env, "VIAM_API_KEY": key, "VIAM_API_KEY_ID": key_id},
                check=False,
            )
            assert client.returncode == 0, client.stderr
            assert '"invoices"' in client.stdout
        finally:
            server.terminate()
            server.communicate(timeout=30)
    assert server.returncode is not None


def test_a_cassette_records_once_then_replays_without_the_service(cli, emulator, monkeypatch, tmp_path):
    org = emulator.org_ids[0]
    code, recorded, err = cli("--cassette", "c.json", "--record-mode", "once", "usage", org, "-f", "json")
    assert code == 0, err
    assert (tmp_path / "c.json").is_file()
    sent = emulator.received["GetCurrentMonthUsage"]
    # Replaying needs neither the service nor credentials.
    monkeypatch.delenv("VIAM_API_KEY")
    monkeypatch.delenv("VIAM_API_KEY_ID")
    code, replayed, err = cli("--cassette", "c.json", "usage", org, "-f", "json")
    assert code == 0, err
    assert replayed == recorded
    assert emulator.received["GetCurrentMonthUsage"] == sent
