"""Plugin discovery through real entry points, isolation of broken plugins, and the registries."""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import pytest
import viam_billing as vb

BUILTINS = "grpc,replay,sinks"

GOOD = """
import viam_billing

class Transport(viam_billing.AsyncTransport):
    def __init__(self, **options):
        self.options = options

@viam_billing.plugin.hookimpl
def register_transports(register):
    register("carrier-pigeon", Transport)

@viam_billing.plugin.hookimpl
def register_sinks(register):
    register("pigeonhole", lambda rest: ("sink", rest))
"""

BROKEN_IMPORT = """
raise ImportError("needs libpigeon 2")
"""

INVALID_HOOK = """
import viam_billing

@viam_billing.plugin.hookimpl
def register_transports(register, surprise):
    pass
"""

FAILING_HOOK = """
import viam_billing

@viam_billing.plugin.hookimpl
def register_sinks(register):
    raise RuntimeError("config file missing")
"""


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution with four plugins, as pip would lay it out, on sys.path."""
    modules = {
        "good_plugin": GOOD,
        "broken_plugin": BROKEN_IMPORT,
        "invalid_plugin": INVALID_HOOK,
        "failing_plugin": FAILING_HOOK,
    }
    for name, source in modules.items():
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
    dist = tmp_path / "pigeon_plugins-1.2.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pigeon-plugins\nVersion: 1.2\n")
    (dist / "entry_points.txt").write_text(
        "[viam_billing]\n" + "".join(f"{name.removesuffix('_plugin')} = {name}\n" for name in modules)
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(vb.BLOCK_ENV, BUILTINS)
    return tmp_path


def load() -> tuple[vb.PluginRegistry, list[str]]:
    with pytest.warns(vb.PluginLoadWarning) as record:
        registry = vb.PluginRegistry()
    return registry, [str(w.message) for w in record]


def test_broken_plugins_are_reported_and_the_good_one_loads(third_party: Path) -> None:
    """Import errors, invalid hooks and failing hooks are named; the good plugin still registers."""
    registry, warnings = load()
    infos = {info.name: info for info in registry.plugins()}
    assert set(infos) == {"good", "broken", "invalid", "failing"}
    good = infos["good"]
    assert good.error is None
    assert good.distribution == "pigeon-plugins"
    assert good.version == "1.2"
    assert good.transports == ("carrier-pigeon",)
    assert good.sinks == ("pigeonhole",)
    assert "libpigeon 2" in (infos["broken"].error or "")
    assert "surprise" in (infos["invalid"].error or "")
    assert "config file missing" in (infos["failing"].error or "")
    assert len(warnings) == 3
    assert all(any(name in w for w in warnings) for name in ("'broken'", "'invalid'", "'failing'"))
    transport = registry.create_transport("carrier-pigeon", address="coop:1")
    assert transport.options == {"address": "coop:1"}  # type: ignore[attr-defined]
    assert registry.create_sink("pigeonhole:north") == ("sink", "north")


def test_blocked_plugins_are_not_loaded(third_party: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names in VIAM_BILLING_BLOCK_PLUGINS are skipped entirely, without warnings."""
    monkeypatch.setenv(vb.BLOCK_ENV, f"{BUILTINS},broken,invalid, failing")
    registry = vb.PluginRegistry()
    assert [info.name for info in registry.plugins()] == ["good"]


def test_disabling_autoload_keeps_only_our_own_plugins(third_party: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With autoload disabled, third-party distributions are not loaded."""
    monkeypatch.setenv(vb.DISABLE_AUTOLOAD_ENV, "1")
    registry = vb.PluginRegistry()
    assert all(info.distribution == "viam-billing" for info in registry.plugins())
    assert "carrier-pigeon" not in registry.transports


def test_unknown_transport_lists_the_registered_ones() -> None:
    """The error names the missing transport and every registered one."""
    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(_Provider(), "provider")
    with pytest.raises(vb.UnknownTransportError) as info:
        vb.connect(transport="smoke-signals", registry=registry)
    assert "'smoke-signals'" in str(info.value)
    assert "fake" in str(info.value)


def test_unknown_sink_scheme_lists_the_registered_ones() -> None:
    """The error names the scheme, the spec and the registered schemes."""
    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(_Provider(), "provider")
    with pytest.raises(vb.UnknownSinkError, match=r"'parquet'.*registered: memory"):
        vb.connect(transport="fake", sinks=["parquet:out/"], registry=registry)


def test_a_name_taken_twice_keeps_the_first_and_warns() -> None:
    """Two plugins registering one transport name: the first wins, with a warning naming the second."""
    registry = vb.PluginRegistry(load_entry_points=False)
    first, second = _Provider(), _Provider()
    registry.register(first, "first")
    with pytest.warns(vb.PluginLoadWarning, match="'second'.*already registered"):
        registry.register(second, "second")
    assert registry.transports["fake"] == first.make


class _Provider:
    def __init__(self) -> None:
        self.options: dict[str, Any] = {}

    def make(self, **options: Any) -> vb.AsyncTransport:
        self.options = options
        return vb.MockTransport(lambda operation, request: operation.response_type())

    @vb.plugin.hookimpl
    def register_transports(self, register: Any) -> None:
        register("fake", self.make)

    @vb.plugin.hookimpl
    def register_sinks(self, register: Any) -> None:
        register("memory", lambda rest: _MemorySink(rest))


class _MemorySink(vb.Sink):
    def __init__(self, rest: str) -> None:
        self.name = f"memory:{rest}"
        self.records: list[vb.Record] = []

    async def write(self, record: vb.Record) -> None:
        self.records.append(record)


@pytest.mark.anyio
async def test_connect_builds_the_named_transport_with_the_options() -> None:
    """connect() hands the connection options and extra keywords to the transport factory."""
    registry = vb.PluginRegistry(load_entry_points=False)
    provider = _Provider()
    registry.register(provider, "provider")
    async with vb.connect(
        transport="fake",
        address="127.0.0.1:1",
        api_key_id="id",
        insecure=True,
        registry=registry,
        flavour="x",
        sinks=["memory:a"],
        timeout=3,
    ) as billing:
        await billing.get_available_billing_tiers()
        (sink,) = billing.sinks
    assert provider.options == {
        "address": "127.0.0.1:1",
        "api_key": None,
        "api_key_id": "id",
        "access_token": None,
        "insecure": True,
        "flavour": "x",
    }
    assert [r.operation.name for r in sink.records] == ["GetAvailableBillingTiers"]  # type: ignore[attr-defined]


def test_a_second_plugin_of_the_same_name_is_listed_apart() -> None:
    """The loaded plugin keeps its entry and its registrations; the newcomer is listed as failed beside it."""
    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(_Provider(), "provider")

    class Other:
        @vb.plugin.hookimpl
        def register_transports(self, register: Any) -> None:
            register("other", lambda **options: None)

    with pytest.warns(vb.PluginLoadWarning, match="already registered"):
        registry.register(Other(), "provider")
    entries = [(info.name, info.transports, info.error) for info in registry.plugins()]
    assert entries[0] == ("provider", ("fake",), None)
    assert entries[1][0] == "provider"
    assert "already registered" in (entries[1][2] or "")
    assert "other" not in registry.transports
    assert "fake" in registry.transports


def test_a_failing_second_hook_leaves_nothing_registered() -> None:
    """A plugin whose register_sinks fails keeps none of the transports its register_transports gave."""

    class Half:
        @vb.plugin.hookimpl
        def register_transports(self, register: Any) -> None:
            register("half-transport", lambda **options: None)

        @vb.plugin.hookimpl
        def register_sinks(self, register: Any) -> None:
            raise RuntimeError("no config")

    registry = vb.PluginRegistry(load_entry_points=False)
    with pytest.warns(vb.PluginLoadWarning, match="no config"):
        info = registry.register(Half(), "half")
    assert info.error is not None
    assert "half-transport" not in registry.transports
    with pytest.raises(vb.UnknownTransportError):
        registry.create_transport("half-transport")


def test_an_entry_point_name_taken_by_another_distribution_is_reported(
    third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two distributions offering the same plugin name: the first loads, the second is listed and warned about."""
    dist = third_party / "rival_plugins-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: rival-plugins\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[viam_billing]\ngood = good_plugin\n")
    monkeypatch.setenv(vb.BLOCK_ENV, f"{BUILTINS},broken,invalid,failing")
    with pytest.warns(vb.PluginLoadWarning, match="already taken by the distribution"):
        registry = vb.PluginRegistry()
    goods = [info for info in registry.plugins() if info.name == "good"]
    assert len(goods) == 2
    assert sum(info.error is None for info in goods) == 1
    assert {info.distribution for info in goods} == {"pigeon-plugins", "rival-plugins"}
