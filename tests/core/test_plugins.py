"""Plugins: found through real entry points, loaded when needed, broken ones isolated, hooks called through pluggy."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from importlib import metadata
from pathlib import Path
from typing import Any

import pytest
import viam_billing as vb
from viam_billing.plugin import hookimpl

ROOT = Path(__file__).resolve().parents[2]
# Every name viam-billing itself lists, so that the third-party tests below see only their own plugins.
BUILTINS = ",".join(
    sorted({ep.name for group in vb.ENTRY_POINT_GROUPS.values() for ep in metadata.entry_points(group=group)
            if ep.dist is not None and ep.dist.metadata["Name"] == "viam-billing"})
)  # fmt: skip

GOOD = """
import viam_billing
from viam_billing.plugin import hookimpl

class Transport(viam_billing.AsyncTransport):
    def __init__(self, **options):
        self.options = options

class Pigeonhole(viam_billing.Sink):
    def __init__(self, rest):
        self.rest = rest

@hookimpl
def register_transports(register):
    register("carrier-pigeon", Transport)

@hookimpl
def register_sinks(register):
    register("pigeonhole", Pigeonhole)
"""

BROKEN_IMPORT = """
raise ImportError("needs libpigeon 2")
"""

INVALID_HOOK = """
from viam_billing.plugin import hookimpl

@hookimpl
def register_transports(register, surprise):
    pass
"""

FAILING_HOOK = """
from viam_billing.plugin import hookimpl

@hookimpl
def register_sinks(register):
    raise RuntimeError("config file missing")
"""

# (module, source, entry points as (group, name))
PLUGINS = {
    "good_plugin": (GOOD, [("viam_billing.transports", "carrier-pigeon"), ("viam_billing.sinks", "pigeonhole")]),
    "broken_plugin": (BROKEN_IMPORT, [("viam_billing.transports", "broken")]),
    "invalid_plugin": (INVALID_HOOK, [("viam_billing.transports", "invalid")]),
    "failing_plugin": (FAILING_HOOK, [("viam_billing.sinks", "failing")]),
}


def install(site: Path, dist: str, version: str, entry_points: list[tuple[str, str, str]]) -> None:
    """Lay out a distribution's metadata as pip would: ``entry_points`` are (group, name, module)."""
    info = site / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    groups: dict[str, list[str]] = {}
    for group, name, module in entry_points:
        groups.setdefault(group, []).append(f"{name} = {module}")
    (info / "entry_points.txt").write_text("".join(f"[{g}]\n" + "\n".join(lines) + "\n" for g, lines in groups.items()))


@pytest.fixture
def third_party(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An installed distribution with four plugin modules, on sys.path; the built-ins are blocked."""
    entry_points = []
    for module, (source, eps) in PLUGINS.items():
        (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
        entry_points += [(group, name, module) for group, name in eps]
        monkeypatch.delitem(sys.modules, module, raising=False)
    install(tmp_path, "pigeon-plugins", "1.2", entry_points)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv(vb.BLOCK_ENV, BUILTINS)
    return tmp_path


def test_reading_entry_points_imports_no_plugin(third_party: Path) -> None:
    """Plugins are listed from their metadata; a module is imported when one of its names is asked for."""
    registry = vb.PluginRegistry()
    assert "good_plugin" not in sys.modules
    infos = {(info.kind, info.name): info for info in registry.plugins()}
    good = infos["transport", "carrier-pigeon"]
    assert (good.distribution, good.version, good.module, good.loaded) == (
        "pigeon-plugins",
        "1.2",
        "good_plugin",
        False,
    )
    transport = registry.create_transport("carrier-pigeon", address="coop:1")
    assert "good_plugin" in sys.modules
    assert "broken_plugin" not in sys.modules  # nobody asked for it
    assert transport.options == {"address": "coop:1"}  # type: ignore[attr-defined]


def test_a_module_listed_under_two_groups_is_registered_once(third_party: Path) -> None:
    """The sink of an already loaded plugin is there at once, and pluggy knows the module once."""
    registry = vb.PluginRegistry()
    registry.create_transport("carrier-pigeon")
    sink = registry.create_sink("pigeonhole:north")
    assert sink.rest == "north"  # type: ignore[attr-defined]
    assert [name for name, _ in registry.manager.list_name_plugin()] == ["good_plugin"]
    listed = {info.name: info for info in registry.plugins()}
    assert listed["carrier-pigeon"].transports == ("carrier-pigeon",)
    assert listed["carrier-pigeon"].sinks == ("pigeonhole",)
    assert listed["pigeonhole"].loaded


def test_broken_plugins_are_reported_and_never_stop_the_others(third_party: Path) -> None:
    """Import errors, invalid hooks and failing hooks are named, with a warning each; the good plugin still works."""
    registry = vb.PluginRegistry()
    with pytest.warns(vb.PluginLoadWarning) as record:
        registry.load_all()
    messages = [str(w.message) for w in record]
    assert len(messages) == 3
    infos = {info.name: info for info in registry.plugins()}
    assert "libpigeon 2" in (infos["broken"].error or "")
    assert "surprise" in (infos["invalid"].error or "")
    assert "config file missing" in (infos["failing"].error or "")
    assert infos["carrier-pigeon"].error is None
    assert all(any(f"'{name}'" in m for m in messages) for name in ("broken", "invalid", "failing"))
    assert isinstance(registry.create_transport("carrier-pigeon"), vb.AsyncTransport)


def test_asking_for_a_broken_plugin_says_why_it_is_missing(third_party: Path) -> None:
    """The unknown-transport error carries the plugin's own failure, so the fix is in the message."""
    registry = vb.PluginRegistry()
    with pytest.warns(vb.PluginLoadWarning), pytest.raises(vb.UnknownTransportError) as info:
        registry.create_transport("broken")
    assert "libpigeon 2" in str(info.value)
    assert "carrier-pigeon" in str(info.value)  # the names there are, loaded or not


def test_blocked_plugins_are_never_loaded(third_party: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Names in VIAM_BILLING_BLOCK_PLUGINS are skipped entirely, without warnings."""
    monkeypatch.setenv(vb.BLOCK_ENV, f"{BUILTINS},broken,invalid, failing")
    registry = vb.PluginRegistry()
    registry.load_all()
    assert sorted(info.name for info in registry.plugins()) == ["carrier-pigeon", "pigeonhole"]


def test_disabling_autoload_keeps_only_our_own_plugins(third_party: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With autoload disabled, third-party distributions are not loaded."""
    monkeypatch.setenv(vb.DISABLE_AUTOLOAD_ENV, "1")
    registry = vb.PluginRegistry()
    assert all(info.distribution == "viam-billing" for info in registry.plugins())
    with pytest.raises(vb.UnknownTransportError):
        registry.create_transport("carrier-pigeon")


def test_a_name_offered_by_two_distributions_is_reported_with_both(
    third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two distributions offering one transport name: the first found is kept, the other listed with the reason."""
    install(third_party, "rival-plugins", "0.1", [("viam_billing.transports", "carrier-pigeon", "good_plugin")])
    with pytest.warns(vb.PluginLoadWarning, match="already taken by the distribution") as record:
        registry = vb.PluginRegistry()
    entries = [info for info in registry.plugins() if info.name == "carrier-pigeon"]
    assert {info.distribution for info in entries} == {"pigeon-plugins", "rival-plugins"}
    (kept,) = [info for info in entries if info.error is None]
    (refused,) = [info for info in entries if info.error is not None]
    assert f"distribution {kept.distribution!r}" in str(record[0].message)
    assert f"{refused.name!r}" in str(record[0].message)
    assert isinstance(registry.create_transport("carrier-pigeon"), vb.AsyncTransport)


class _Provider:
    def __init__(self, name: str = "fake") -> None:
        self.name = name
        self.options: dict[str, Any] = {}

    def make(self, **options: Any) -> vb.AsyncTransport:
        self.options = options
        return vb.MockTransport(lambda operation, request: operation.response_type())

    @hookimpl
    def register_transports(self, register: Any) -> None:
        register(self.name, self.make)

    @hookimpl
    def register_sinks(self, register: Any) -> None:
        register("memory", _MemorySink)


class _MemorySink(vb.Sink):
    def __init__(self, rest: str) -> None:
        self.name = f"memory:{rest}"
        self.records: list[vb.Record] = []

    async def write(self, record: vb.Record) -> None:
        self.records.append(record)


def test_unknown_transport_and_sink_list_the_registered_ones() -> None:
    """The errors name what was asked for and every name there is."""
    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(_Provider(), "provider")
    with pytest.raises(vb.UnknownTransportError, match=r"'smoke-signals'.*there are: fake"):
        vb.connect("smoke-signals", registry=registry)
    with pytest.raises(vb.UnknownSinkError, match=r"'parquet'.*there are: memory"):
        vb.connect("fake", sinks=["parquet:out/"], registry=registry)


def test_a_factory_must_make_what_it_registers() -> None:
    """A factory returning something else is a PluginError naming the plugin's name, not a crash later."""

    class Liar:
        @hookimpl
        def register_transports(self, register: Any) -> None:
            register("liar", lambda **options: object())

        @hookimpl
        def register_sinks(self, register: Any) -> None:
            register("liar", lambda rest: object())

    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(Liar())
    with pytest.raises(vb.PluginError, match="transport 'liar' returned object"):
        registry.create_transport("liar")
    with pytest.raises(vb.PluginError, match="sink 'liar' returned object"):
        registry.create_sink("liar:x")


@pytest.mark.anyio
async def test_connect_hands_the_transport_only_the_options_given() -> None:
    """connect() takes the transport name and passes exactly the caller's other keywords to its factory."""
    registry = vb.PluginRegistry(load_entry_points=False)
    provider = _Provider()
    registry.register(provider, "provider")
    async with vb.connect("fake", registry=registry, flavour="x", sinks=["memory:a"], timeout=3) as billing:
        await billing.get_available_billing_tiers()
        (sink,) = billing.sinks
    assert provider.options == {"flavour": "x"}
    assert [r.operation.name for r in sink.records] == ["GetAvailableBillingTiers"]  # type: ignore[attr-defined]


def test_two_plugins_registering_one_name_follow_pluggy_order_and_warn() -> None:
    """pluggy calls the later plugin first, so its factory is kept, unless the earlier one asks to go first."""
    registry = vb.PluginRegistry(load_entry_points=False)
    first, second = _Provider(), _Provider()
    registry.register(first, "first")
    registry.register(second, "second")
    with pytest.warns(vb.PluginLoadWarning) as record:
        assert registry.transports["fake"] == second.make
    assert any("more than one plugin registers the transport 'fake'" in str(w.message) for w in record)

    class Eager(_Provider):
        @hookimpl(tryfirst=True)
        def register_transports(self, register: Any) -> None:
            register(self.name, self.make)

    eager = Eager()
    ordered = vb.PluginRegistry(load_entry_points=False)
    ordered.register(eager, "eager")
    ordered.register(_Provider(), "later")
    with pytest.warns(vb.PluginLoadWarning):
        assert ordered.transports["fake"] == eager.make


def test_hook_wrappers_wrap_the_registration() -> None:
    """A wrapper around register_transports runs around every plugin's registration, as pluggy documents."""
    seen: list[str] = []

    class Auditor:
        @hookimpl(wrapper=True)
        def register_transports(self, register: Any) -> Any:
            seen.append("before")
            register("audited", _Provider("audited").make)
            result = yield
            seen.append("after")
            return result

    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(_Provider(), "provider")
    registry.register(Auditor(), "auditor")
    assert set(registry.transports) == {"fake", "audited"}
    assert seen[-2:] == ["before", "after"]


def test_a_second_plugin_of_the_same_name_is_listed_apart() -> None:
    """The registered plugin keeps its entry and its registrations; the newcomer is listed as failed beside it."""
    registry = vb.PluginRegistry(load_entry_points=False)
    registry.register(_Provider(), "provider")

    class Other:
        @hookimpl
        def register_transports(self, register: Any) -> None:
            register("other", lambda **options: None)

    with pytest.warns(vb.PluginLoadWarning, match="already registered"):
        registry.register(Other(), "provider")
    entries = [(info.name, info.transports, info.error) for info in registry.plugins()]
    assert entries[0] == ("provider", ("fake",), None)
    assert "already registered" in (entries[1][2] or "")
    assert set(registry.transports) == {"fake"}


def test_a_failing_second_hook_leaves_nothing_registered() -> None:
    """A plugin whose register_sinks fails keeps none of the transports its register_transports gave."""

    class Half:
        @hookimpl
        def register_transports(self, register: Any) -> None:
            register("half-transport", lambda **options: None)

        @hookimpl
        def register_sinks(self, register: Any) -> None:
            raise RuntimeError("no config")

    registry = vb.PluginRegistry(load_entry_points=False)
    with pytest.warns(vb.PluginLoadWarning, match="no config"):
        info = registry.register(Half(), "half")
    assert info.error is not None
    assert "half-transport" not in registry.transports
    with pytest.raises(vb.UnknownTransportError):
        registry.create_transport("half-transport")


OBSERVER = """
from viam_billing.plugin import hookimpl

events = []

@hookimpl
def call_started(event):
    events.append(("started", event.operation.name))

@hookimpl
def call_finished(event):
    events.append(("finished", event.operation.name, event.outcome))
"""


@pytest.mark.anyio
async def test_observers_load_when_a_client_is_built_and_see_every_call(
    third_party: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An observer listed in viam_billing.observers is imported by the first client and told of each call."""
    (third_party / "watch_plugin.py").write_text(OBSERVER)
    monkeypatch.delitem(sys.modules, "watch_plugin", raising=False)
    install(third_party, "watch", "3.0", [("viam_billing.observers", "watch", "watch_plugin")])
    registry = vb.PluginRegistry()
    assert "watch_plugin" not in sys.modules
    handler = vb.MockTransport(lambda operation, request: vb.GetAvailableBillingTiersResponse(tiers=("free",)))
    async with vb.BillingClient(handler, registry=registry) as billing:
        await billing.get_available_billing_tiers()
    events = sys.modules["watch_plugin"].events
    assert events == [("started", "GetAvailableBillingTiers"), ("finished", "GetAvailableBillingTiers", "ok")]


def _modules_after(code: str) -> set[str]:
    script = f"import sys\n{code}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", script], check=True, capture_output=True, text=True).stdout
    return set(out.split())


HEAVY = ("grpclib", "h2", "google.protobuf", "click", "rich", "plotext", "anyio.from_thread")
PLUGIN_PACKAGES = ("viam_billing_grpc", "viam_billing_replay", "viam_billing_sinks", "viam_billing_cli")


def _loaded(modules: set[str], roots: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == r or m.startswith(f"{r}.") for r in roots))


def test_importing_the_package_loads_no_plugin_and_no_machinery() -> None:
    """``import viam_billing`` loads neither a plugin package nor grpclib, h2, protobuf, click, rich, anyio, pluggy."""
    modules = _modules_after("import viam_billing")
    assert _loaded(modules, (*HEAVY, *PLUGIN_PACKAGES, "anyio", "pluggy")) == []


def test_a_client_over_a_mock_loads_no_plugin() -> None:
    """Building and using a client over MockTransport imports no plugin package and no gRPC, CLI or display code."""
    modules = _modules_after(
        "import anyio, viam_billing as vb\n"
        "async def main():\n"
        "    handler = lambda op, req: vb.GetInvoicesSummaryResponse(outstanding_balance=1.0)\n"
        "    async with vb.BillingClient(vb.MockTransport(handler)) as billing:\n"
        "        assert (await billing.get_invoices_summary('org')).outstanding_balance == 1.0\n"
        "anyio.run(main)"
    )
    assert _loaded(modules, (*HEAVY, *PLUGIN_PACKAGES)) == []


def test_connect_loads_only_the_transport_asked_for() -> None:
    """connect() to the grpc transport imports that plugin, not the replay, sinks or command-line packages."""
    modules = _modules_after(
        "import viam_billing\nviam_billing.connect(address='127.0.0.1:1', insecure=True, access_token='t')"
    )
    assert "viam_billing_grpc" in modules
    assert _loaded(modules, ("viam_billing_replay", "viam_billing_sinks", "viam_billing_cli", "click", "rich")) == []


def _private_core_imports(root: Path) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module, *(f"{node.module}.{alias.name}" for alias in node.names)]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            found += [
                f"{path.relative_to(ROOT)}:{node.lineno}: {name}"
                for name in names
                if name.startswith("viam_billing.")
                and any(part.startswith("_") and not part.endswith("__") for part in name.split(".")[1:])
            ]
    return found


@pytest.mark.parametrize("folder", ["plugins", "cli", "examples"])
def test_plugins_and_the_command_line_use_only_the_public_api(folder: str) -> None:
    """No built-in plugin, command-line module or example imports a private ``viam_billing._*`` name."""
    assert _private_core_imports(ROOT / folder) == []
