"""The pytest plugin, exercised through pytester: fixture, cassette paths, marker, options, stale reports."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

# Imported once here, before any in-process pytest run: pytester forgets the modules a run imported (the one that
# loads the process-wide registry imports the grpc plugin), and protobuf's C extension crashes when its modules are
# imported a second time in one process.
import viam_billing_grpc  # noqa: F401

CONFTEST = textwrap.dedent(
    """
    import os

    import pytest
    import viam_billing as vb
    import viam_billing_replay


    @pytest.fixture(params=["asyncio", "trio"])
    def anyio_backend(request):
        return request.param


    def handler(operation, request):
        if os.environ.get("FAKE_SERVICE_OFFLINE"):
            raise AssertionError(f"the service was called while offline: {operation.name}")
        if operation.name == "GetCurrentMonthUsage":
            return vb.GetCurrentMonthUsageResponse(subtotal=12.5 if request.org_id == "org-1" else 1.0)
        if operation.name == "GetInvoicePdf":
            return [vb.GetInvoicePdfResponse(chunk=b"%PDF-"), vb.GetInvoicePdfResponse(chunk=b"%%EOF")]
        if operation.name == "ChargeOrganization":
            return vb.ChargeOrganizationResponse(invoice_id=f"inv-{request.description}")
        return operation.response_type()


    @pytest.fixture
    def billing_connect_options():
        registry = vb.PluginRegistry(load_entry_points=False)
        registry.register(viam_billing_replay, name="replay")
        return {"inner": vb.MockTransport(handler), "registry": registry}
    """
)

# Strict warnings as a careful user would have them; hypothesis's plugin is left out because it imports
# hypothesis afresh (two seconds) in every in-process run.
INI = "[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider -p no:hypothesispytest\n"

USAGE_TEST = textwrap.dedent(
    """
    import pytest

    pytestmark = pytest.mark.anyio


    async def test_usage(billing_client):
        usage = await billing_client.get_current_month_usage("org-1")
        assert usage.subtotal == 12.5
        pdf = await billing_client.get_invoice_pdf_bytes("inv-1", "org-1")
        assert pdf == b"%PDF-%%EOF"
    """
)


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    """A user's project: strict warnings, both backends, a fake service to record from."""
    pytester.makeini(INI)
    pytester.makeconftest(CONFTEST)
    return pytester


def interactions(path: Path) -> list[str]:
    return [item["operation"] for item in json.loads(path.read_text())["interactions"]]


def test_record_once_then_replay_offline(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """--billing-record-mode=once writes cassettes/<module>/<test>.json; a plain run then replays it offline."""
    project.makepyfile(test_billing=USAGE_TEST)
    project.runpytest("--billing-record-mode=once").assert_outcomes(passed=2)
    cassette = project.path / "cassettes" / "test_billing" / "test_usage.json"
    assert interactions(cassette) == ["GetCurrentMonthUsage", "GetInvoicePdf"]
    assert sorted(p.name for p in cassette.parent.iterdir()) == ["test_usage.json"]  # one for both backends

    monkeypatch.setenv("FAKE_SERVICE_OFFLINE", "1")
    result = project.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.no_fnmatch_line("*never played*")


def test_replay_without_a_cassette_fails_with_the_way_to_record(project: pytest.Pytester) -> None:
    """The default mode is none: a missing cassette errors at setup and says how to record it."""
    project.makepyfile(test_billing=USAGE_TEST)
    result = project.runpytest()
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*CassetteError*does not exist*--billing-record-mode=once*"])
    assert not (project.path / "cassettes").exists()


def test_an_unmatched_request_fails_the_test_with_the_candidates(project: pytest.Pytester) -> None:
    """A test whose calls changed fails with the unmatched-request error text."""
    project.makepyfile(test_billing=USAGE_TEST)
    project.runpytest("--billing-record-mode=once").assert_outcomes(passed=2)
    project.makepyfile(test_billing=USAGE_TEST.replace('usage("org-1")', 'usage("org-9")'))
    result = project.runpytest()
    result.assert_outcomes(failed=2)
    result.stdout.fnmatch_lines(
        ["*UnmatchedRequestError*", "*Nearest recorded candidates:*", "*org_id: recorded 'org-1', requested 'org-9'*"]
    )


def test_the_marker_names_the_cassette_and_sets_matching(project: pytest.Pytester) -> None:
    """billing_cassette("shared", match_ignore=[...]) lets two tests share one cassette, ignoring a field."""
    project.makepyfile(
        test_charges="""
        import pytest

        pytestmark = pytest.mark.anyio


        @pytest.mark.billing_cassette("shared", match_ignore=["description"], allow_playback_repeats=True)
        async def test_first(billing_client):
            result = await billing_client.charge_organization("org-2", 1.0, 0.0, "first")
            assert result.invoice_id == "inv-first"


        @pytest.mark.billing_cassette("shared", match_ignore=["description"], allow_playback_repeats=True)
        async def test_second(billing_client):
            result = await billing_client.charge_organization("org-2", 1.0, 0.0, "second")
            assert result.invoice_id == "inv-first"
        """
    )
    project.runpytest("--billing-record-mode=once").assert_outcomes(passed=4)
    assert sorted(p.name for p in (project.path / "cassettes" / "test_charges").iterdir()) == ["shared.json"]


def test_parameters_classes_and_the_ini_setting(project: pytest.Pytester) -> None:
    """Parameters other than the backend and the class name enter the cassette name; the ini sets the mode."""
    project.makeini(f"{INI}billing_record_mode = once\n")
    project.makepyfile(
        test_names="""
        import pytest

        pytestmark = pytest.mark.anyio


        @pytest.mark.parametrize("org", ["org-1", "org 2/x"])
        async def test_usage(billing_client, org):
            await billing_client.get_current_month_usage(org)


        class TestTiers:
            async def test_tiers(self, billing_client):
                await billing_client.get_available_billing_tiers()
        """
    )
    project.runpytest().assert_outcomes(passed=6)
    names = sorted(p.name for p in (project.path / "cassettes" / "test_names").iterdir())
    assert names == ["TestTiers.test_tiers.json", "test_usage[org-1].json", "test_usage[org_2_x].json"]


def test_unknown_marker_options_are_reported(project: pytest.Pytester) -> None:
    """A typo in the marker fails the test with the options it takes."""
    project.makepyfile(
        test_typo="""
        import pytest

        @pytest.mark.anyio
        @pytest.mark.billing_cassette(match_ingore=["description"])
        async def test_it(billing_client):
            pass
        """
    )
    result = project.runpytest("--billing-record-mode=once")
    result.assert_outcomes(errors=2)
    result.stdout.fnmatch_lines(["*billing_cassette got unknown option(s) match_ingore*"])


UNPLAYED_TEST = textwrap.dedent(
    """
    import os
    import pytest

    pytestmark = pytest.mark.anyio


    async def test_usage(billing_client):
        await billing_client.get_current_month_usage("org-1")
        if not os.environ.get("SKIP_SECOND_CALL"):
            await billing_client.get_available_billing_tiers()
    """
)


def test_interactions_never_played_are_reported(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """A passing test that leaves recorded interactions unplayed is listed at the end of the run."""
    project.makepyfile(test_stale=UNPLAYED_TEST)
    project.runpytest("--billing-record-mode=once").assert_outcomes(passed=2)
    monkeypatch.setenv("SKIP_SECOND_CALL", "1")
    result = project.runpytest()
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        [
            "*viam-billing: recorded interactions never played*",
            "*test_stale.py::test_usage*test_usage.json: 1 never played: 1 (GetAvailableBillingTiers)",
        ]
    )
    project.runpytest("--billing-unplayed=ignore").stdout.no_fnmatch_line("*never played*")


def test_unplayed_interactions_can_fail_the_test(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """--billing-unplayed=error turns a stale cassette into a test error."""
    project.makepyfile(test_stale=UNPLAYED_TEST)
    project.runpytest("--billing-record-mode=once").assert_outcomes(passed=2)
    monkeypatch.setenv("SKIP_SECOND_CALL", "1")
    result = project.runpytest("--billing-unplayed=error")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*1 recorded interaction(s) this test never played: 1 (GetAvailableBillingTiers)*"])


def test_new_episodes_adds_the_missing_call(project: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    """After the code gained a call, new_episodes records only that one and keeps the rest."""
    monkeypatch.setenv("SKIP_SECOND_CALL", "1")
    project.makepyfile(test_stale=UNPLAYED_TEST)
    project.runpytest("--billing-record-mode=once").assert_outcomes(passed=2)
    monkeypatch.delenv("SKIP_SECOND_CALL")
    project.runpytest().assert_outcomes(failed=2)
    project.runpytest("--billing-record-mode=new_episodes").assert_outcomes(passed=2)
    cassette = project.path / "cassettes" / "test_stale" / "test_usage.json"
    assert interactions(cassette) == ["GetCurrentMonthUsage", "GetAvailableBillingTiers"]
    monkeypatch.setenv("FAKE_SERVICE_OFFLINE", "1")
    project.runpytest().assert_outcomes(passed=2)


def test_connect_options_reach_replay_and_the_inner_transport(project: pytest.Pytester) -> None:
    """billing_connect_options carries replay options (secrets) and an inner transport's own: a named inner transport
    is built with the options replay does not take, and a secret in an answer fails the test at teardown."""
    project.makeconftest(
        CONFTEST
        + textwrap.dedent(
            """

            class Pigeon(vb.MockTransport):
                built = []

                def __init__(self, **options):
                    Pigeon.built.append(options)
                    super().__init__(handler)


            class PigeonPlugin:
                @vb.plugin.hookimpl
                def register_transports(self, register):
                    register("pigeon", Pigeon)


            @pytest.fixture
            def billing_connect_options():
                registry = vb.PluginRegistry(load_entry_points=False)
                registry.register(viam_billing_replay, name="replay")
                registry.register(PigeonPlugin(), name="pigeon")
                inner = registry.create_transport("pigeon", loft="north")
                return {"inner": inner, "registry": registry, "secrets": {"loft key": "inv-hunter2"}}
            """
        )
    )
    project.makepyfile(
        test_pigeon="""
        import pytest

        pytestmark = pytest.mark.anyio


        async def test_clean(billing_client):
            assert (await billing_client.get_current_month_usage("org-1")).subtotal == 12.5


        async def test_leaky(billing_client):
            await billing_client.charge_organization("org-1", 1.0, 0.0, "hunter2")
        """
    )
    result = project.runpytest("--billing-record-mode=once", "-k", "clean")
    result.assert_outcomes(passed=2)
    result = project.runpytest("--billing-record-mode=once", "-k", "leaky")
    result.assert_outcomes(passed=2, errors=2)
    result.stdout.fnmatch_lines(["*CassetteSecretError*loft key (secrets option)*"])
    result.stdout.no_fnmatch_line("*inv-hunter2*")
    directory = project.path / "cassettes" / "test_pigeon"
    assert sorted(p.name for p in directory.iterdir()) == ["test_clean.json"]


def test_a_refused_cassette_prints_no_secret_in_the_test_report(pytester: pytest.Pytester) -> None:
    """pytest prints the arguments of the frames a failure passes through; the scan's frames are hidden from it,
    so a CassetteSecretError raised in a user's own test shows the kind of secret and never its value."""
    pytester.makeini(INI)
    pytester.makepyfile(
        test_leak="""
        import pytest
        import viam_billing as vb

        SECRET = "".join(reversed("EULAV-TERCES-kot"))  # the value itself never appears in this source


        class Holding(vb.MockTransport):
            def secrets(self):
                return [SECRET]


        @pytest.mark.parametrize("anyio_backend", ["asyncio"])
        @pytest.mark.anyio
        async def test_it(tmp_path, anyio_backend):
            inner = Holding(lambda operation, request: vb.GetAvailableBillingTiersResponse(tiers=(SECRET,)))
            async with vb.connect(
                transport="replay", cassette=tmp_path / "c.json", record_mode="once", inner=inner
            ) as billing:
                await billing.get_available_billing_tiers()
        """
    )
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*CassetteSecretError*secret held by the inner Holding (from its secrets())*"])
    result.stdout.no_fnmatch_line("*tok-SECRET-VALUE*")


def test_the_fixture_works_with_the_process_wide_registry(pytester: pytest.Pytester) -> None:
    """Without a registry override, the replay transport comes from the real entry points."""
    pytester.makeini("[pytest]\naddopts = -p no:cacheprovider -p no:hypothesispytest\n")
    cassette = pytester.path / "cassettes" / "test_plain" / "test_tiers.json"
    cassette.parent.mkdir(parents=True)
    cassette.write_text(
        json.dumps(
            {
                "format": "viam-billing-cassette",
                "version": 1,
                "interactions": [
                    {
                        "operation": "GetAvailableBillingTiers",
                        "request": {},
                        "outcome": "ok",
                        "responses": [{"tiers": ["free"]}],
                    }
                ],
            }
        )
    )
    pytester.makepyfile(
        test_plain="""
        import pytest

        @pytest.mark.anyio
        async def test_tiers(billing_client):
            assert (await billing_client.get_available_billing_tiers()).tiers == ("free",)
        """
    )
    result = pytester.runpytest()
    assert result.ret == 0
    assert result.parseoutcomes()["passed"] >= 1


def test_the_options_and_marker_are_registered(pytester: pytest.Pytester) -> None:
    """--help lists the options and --markers the marker, with --strict-markers accepting it."""
    pytester.runpytest("--help").stdout.fnmatch_lines(["*--billing-record-mode*", "*--billing-unplayed*"])
    pytester.runpytest("--markers").stdout.fnmatch_lines(["*@pytest.mark.billing_cassette(name=None*"])


def test_importing_the_plugin_loads_no_transport_nor_plugins() -> None:
    """The pytest11 plugin is imported by every pytest run: no grpclib, no plugin registry, no other plugin."""
    code = (
        "import sys\n"
        "import viam_billing_replay.pytest_plugin\n"
        "import viam_billing._plugins as plugins\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "('grpclib', 'h2', 'google', 'viam_billing_grpc', 'viam_billing_sinks'))\n"
        "print(heavy, plugins._registry)"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[] None"
