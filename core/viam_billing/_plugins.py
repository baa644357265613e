"""Finding plugins through entry points, loading each only when it is first needed, and asking them through pluggy.

A plugin is listed under one entry-point group per thing it provides, under the name it provides it as::

    [project.entry-points."viam_billing.transports"]
    carrier-pigeon = "pigeon_plugin"          # connect(transport="carrier-pigeon")
    [project.entry-points."viam_billing.sinks"]
    pigeonhole = "pigeon_plugin"              # sinks=["pigeonhole:north"]
    [project.entry-points."viam_billing.observers"]
    pigeon-log = "pigeon_plugin"              # call_started / call_finished, loaded when a client is built

Reading entry points imports nothing: a plugin's module is imported the first time one of its names is asked for
(observers: when a client is built). viam-billing's own transports and sinks are listed the same way. A plugin
that fails to import or to validate is reported by name (a :class:`PluginLoadWarning` and an entry in
:func:`list_plugins`) and never stops the others.

Environment variables, read when the entry points are first read:

``VIAM_BILLING_DISABLE_PLUGIN_AUTOLOAD``
    Set to a non-empty value: use only the plugins that come with viam-billing itself.
``VIAM_BILLING_BLOCK_PLUGINS``
    Comma-separated entry-point names that are never loaded (built-ins included).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any, Literal

import attrs
import pluggy

from . import hookspecs
from ._errors import PluginError, UnknownSinkError, UnknownTransportError
from ._events import CallFinished, CallStarted
from ._sinks import Sink
from ._transport import AsyncTransport

__all__ = [
    "BLOCK_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUPS",
    "Observers",
    "PluginInfo",
    "PluginKind",
    "PluginLoadWarning",
    "PluginRegistry",
    "create_sink",
    "create_transport",
    "get_registry",
    "list_plugins",
]

logger = logging.getLogger("viam_billing.plugins")

PluginKind = Literal["transport", "sink", "observer"]
ENTRY_POINT_GROUPS: dict[PluginKind, str] = {
    "transport": "viam_billing.transports",
    "sink": "viam_billing.sinks",
    "observer": "viam_billing.observers",
}
"""The entry-point group of each kind of plugin; an entry point's name is the name it provides."""
DISABLE_AUTOLOAD_ENV = "VIAM_BILLING_DISABLE_PLUGIN_AUTOLOAD"
"""Set to a non-empty value: only the plugins that come with viam-billing itself are loaded."""
BLOCK_ENV = "VIAM_BILLING_BLOCK_PLUGINS"
"""Comma-separated entry-point names that are never loaded, viam-billing's own included."""
_OWN_DISTRIBUTION = "viam-billing"
_HOOKS: dict[str, PluginKind] = {"register_transports": "transport", "register_sinks": "sink"}


class PluginLoadWarning(UserWarning):
    """Warned when a plugin could not be loaded or registered; the others are loaded all the same."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One plugin entry, as :func:`list_plugins` shows it.

    ``kind`` is the entry-point group it was found in (``None`` for a plugin object registered directly),
    ``module`` what the entry point names. ``loaded`` says whether its module has been imported yet; once it
    has, ``transports`` and ``sinks`` list what it registered. ``error`` says why it failed, if it did.
    """

    name: str
    kind: PluginKind | None = None
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    loaded: bool = False
    transports: tuple[str, ...] = ()
    sinks: tuple[str, ...] = ()
    error: str | None = None


@attrs.frozen
class Observers:
    """The ``call_started`` and ``call_finished`` hooks of every loaded plugin.

    Twice per observed call, so cheaply: pluggy's implementations are called in pluggy's order (``tryfirst``,
    ``trylast`` and registration order honoured) without its general call machinery, which would cost a few
    microseconds a call; when a wrapper is among them, pluggy calls them itself. Plugins registered after the
    client was built are seen too. One observer's exception is logged naming its plugin, and the others are
    still told.
    """

    call_started: pluggy.HookCaller
    call_finished: pluggy.HookCaller

    def started(self, event: CallStarted) -> None:
        """Tell every observer a call started; an observer's exception is logged, never raised."""
        _notify(self.call_started, event)

    def finished(self, event: CallFinished) -> None:
        """Tell every observer a call ended; an observer's exception is logged, never raised."""
        _notify(self.call_finished, event)


def _notify(hook: pluggy.HookCaller, event: CallStarted | CallFinished) -> None:
    implementations = hook.get_hookimpls()
    for implementation in implementations:
        if implementation.wrapper or implementation.hookwrapper:
            try:
                hook(event=event)
            except Exception:
                logger.exception("a %s hook failed", hook.name)
            return
    for implementation in reversed(implementations):  # pluggy calls the last registered (and tryfirst) first
        try:
            if implementation.argnames:
                implementation.function(event)
            else:
                implementation.function()
        except Exception:
            logger.exception("the %s hook failed in plugin %r", hook.name, implementation.plugin_name)


@attrs.define
class _Entry:
    """An entry point found, and what became of it."""

    kind: PluginKind
    entry_point: metadata.EntryPoint
    plugin: object = None
    loaded: bool = False
    error: str | None = None
    _distribution: tuple[str | None, str | None] | None = None

    @property
    def distribution(self) -> tuple[str | None, str | None]:
        """The name and version of the distribution that lists it, read (from its metadata file) when first asked."""
        if self._distribution is None:
            dist = getattr(self.entry_point, "dist", None)
            self._distribution = (None, None) if dist is None else (dist.metadata["Name"], dist.version)
        return self._distribution

    def info(self, transports: tuple[str, ...] = (), sinks: tuple[str, ...] = ()) -> PluginInfo:
        distribution, version = self.distribution
        return PluginInfo(
            name=self.entry_point.name,
            kind=self.kind,
            distribution=distribution,
            version=version,
            module=self.entry_point.value,
            loaded=self.loaded,
            transports=transports,
            sinks=sinks,
            error=self.error,
        )


class PluginRegistry:
    """The plugin manager, the entry points found, and what the loaded plugins registered.

    Most code uses the process-wide one from :func:`get_registry`. Tests and embedders may build their own with
    ``PluginRegistry(load_entry_points=False)`` and :meth:`register` plugin objects directly.
    """

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self._lock = threading.RLock()
        self._entries: dict[tuple[PluginKind, str], _Entry] = {}
        self._refused: list[PluginInfo] = []  # entry points never loadable: a name another distribution has
        self._direct: list[PluginInfo] = []
        self._tables: dict[PluginKind, dict[str, Any]] | None = None
        self._conflicts_reported: set[tuple[PluginKind, str]] = set()
        self._observers_loaded = False
        if load_entry_points:
            self._read_entry_points()

    # -- finding ------------------------------------------------------------------------------------------------

    def _read_entry_points(self) -> None:
        blocked = {name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()}
        builtins_only = bool(os.environ.get(DISABLE_AUTOLOAD_ENV))
        everything = metadata.entry_points()  # one scan of the installed distributions for the three groups
        for kind, group in ENTRY_POINT_GROUPS.items():
            for ep in everything.select(group=group):
                entry = _Entry(kind=kind, entry_point=ep)
                taken = self._entries.get((kind, ep.name))
                if taken is not None:
                    if taken.distribution[0] != entry.distribution[0]:
                        reason = f"the {kind} name {ep.name!r} is already taken by the distribution "
                        entry.error = reason + repr(taken.distribution[0])
                        self._warn(ep.name, entry.error)
                        self._refused.append(entry.info())
                    # else: one distribution visible twice on sys.path (an editable and a regular install)
                    continue
                if ep.name in blocked:
                    logger.debug("plugin %r blocked by %s", ep.name, BLOCK_ENV)
                    continue
                if builtins_only and entry.distribution[0] != _OWN_DISTRIBUTION:
                    logger.debug("plugin %r not autoloaded (%s is set)", ep.name, DISABLE_AUTOLOAD_ENV)
                    continue
                self._entries[kind, ep.name] = entry

    # -- loading ------------------------------------------------------------------------------------------------

    def _load(self, kind: PluginKind, name: str) -> None:
        """Import and register the plugin listed as ``name`` in ``kind``'s group, once."""
        entry = self._entries.get((kind, name))
        if entry is None or entry.loaded or entry.error is not None:
            return
        try:
            plugin = entry.entry_point.load()
        except Exception as exc:
            entry.error = f"import of {entry.entry_point.value!r} failed: {type(exc).__name__}: {exc}"
            self._warn(name, entry.error)
            return
        error = self._add(plugin)
        if error is not None:
            entry.error = error
            self._warn(name, error)
            return
        for other in self._entries.values():  # the same module listed under other names is loaded too
            if other.entry_point.value == entry.entry_point.value and other.error is None:
                other.plugin, other.loaded = plugin, True

    def _add(self, plugin: object) -> str | None:
        """Register ``plugin`` with pluggy; return why it failed, or ``None``.

        A module listed under several entry points (a transport and a sink, say) is registered once.
        """
        with self._lock:
            if self.manager.is_registered(plugin):
                return None
            try:
                self.manager.register(plugin, name=_plugin_name(plugin))
            except Exception as exc:  # pluggy's PluginValidationError, or a ValueError for a name taken
                return f"{type(exc).__name__}: {exc}"
            # Its registration hooks run by themselves first, so that a failing one is blamed on this plugin
            # (and unregisters it) instead of breaking every later lookup.
            others = [other for other in self.manager.get_plugins() if other is not plugin]
            for hook in _HOOKS:
                try:
                    self.manager.subset_hook_caller(hook, remove_plugins=others)(register=_collector(hook, {}))
                except Exception as exc:
                    self.manager.unregister(plugin)
                    return f"{hook} failed: {type(exc).__name__}: {exc}"
            self._tables = None
            return None

    def register(self, plugin: object, name: str | None = None) -> PluginInfo:
        """Register a plugin object (a module, or an instance with hook implementations) and return its entry.

        A plugin that fails validation, or whose registration hook raises, is not registered; its entry carries
        the error and a :class:`PluginLoadWarning` is issued.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        info = PluginInfo(name=name, module=getattr(plugin, "__name__", None))
        error: str | None = "a plugin of that name is already registered"
        if not any(other.name == name and other.error is None for other in self._direct):
            error = self._add(plugin)
        if error is None:
            transports, sinks = self._provided_by(plugin)
            info = attrs.evolve(info, loaded=True, transports=transports, sinks=sinks)
        else:
            self._warn(name, error)
            info = attrs.evolve(info, error=error)
        self._direct.append(info)
        return info

    def load_all(self) -> None:
        """Import every plugin found now, rather than when first needed (``viam-billing plugins`` does)."""
        for kind, name in list(self._entries):
            self._load(kind, name)

    def _warn(self, name: str, reason: str) -> None:
        warnings.warn(f"viam-billing plugin {name!r} was not loaded: {reason}", PluginLoadWarning, stacklevel=5)

    # -- what the plugins registered, asked through pluggy -------------------------------------------------------

    def _table(self, kind: PluginKind) -> dict[str, Any]:
        with self._lock:
            if self._tables is None:
                tables: dict[PluginKind, dict[str, Any]] = {}
                for hook, hook_kind in _HOOKS.items():
                    added: dict[str, Any] = {}
                    # Through pluggy, so tryfirst/trylast and wrappers apply. pluggy calls later plugins first,
                    # and the first registration of a name is the one kept.
                    getattr(self.manager.hook, hook)(register=_collector(hook, added, self._conflict))
                    tables[hook_kind] = added
                self._tables = tables
            return self._tables[kind]

    def _conflict(self, hook: str, name: str) -> None:
        key = (_HOOKS[hook], name)
        if key not in self._conflicts_reported:
            self._conflicts_reported.add(key)
            warnings.warn(
                f"viam-billing: more than one plugin registers the {_HOOKS[hook]} {name!r}; the one pluggy calls "
                "first is kept (see `viam-billing plugins`)",
                PluginLoadWarning,
                stacklevel=2,
            )

    def _provided_by(self, plugin: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
        others = [other for other in self.manager.get_plugins() if other is not plugin]
        provided: dict[str, tuple[str, ...]] = {}
        for hook in _HOOKS:
            names: dict[str, Any] = {}
            self.manager.subset_hook_caller(hook, remove_plugins=others)(register=_collector(hook, names))
            provided[hook] = tuple(names)
        return provided["register_transports"], provided["register_sinks"]

    @property
    def transports(self) -> dict[str, hookspecs.TransportFactory]:
        """The transports registered by the plugins loaded so far, by name."""
        return dict(self._table("transport"))

    @property
    def sinks(self) -> dict[str, hookspecs.SinkFactory]:
        """The sink schemes registered by the plugins loaded so far, by scheme."""
        return dict(self._table("sink"))

    def _factory(self, kind: PluginKind, name: str) -> Any:
        factory = self._table(kind).get(name)
        if factory is None:
            with self._lock:
                self._load(kind, name)
            factory = self._table(kind).get(name)
        return factory

    def _known(self, kind: PluginKind) -> str:
        found = {name for (k, name), entry in self._entries.items() if k == kind and entry.error is None}
        names = set(self._table(kind)) | found
        return ", ".join(sorted(names)) or "none"

    def create_transport(self, name: str, **options: Any) -> AsyncTransport:
        """Build the transport registered as ``name`` with ``options``, importing its plugin if needed.

        Raises :class:`UnknownTransportError` listing the names there are, or what the factory raises
        (:class:`~viam_billing.ConfigurationError` for options it cannot use).
        """
        factory = self._factory("transport", name)
        if factory is None:
            raise UnknownTransportError(
                f"no transport named {name!r} is registered (there are: {self._known('transport')}); "
                "install the plugin that provides it, or check `viam-billing plugins`"
                + self._failure_note("transport", name)
            )
        transport = factory(**options)
        if not isinstance(transport, AsyncTransport):
            raise PluginError(f"the factory of transport {name!r} returned {type(transport).__name__}, not a transport")
        return transport

    def create_sink(self, spec: str) -> Sink:
        """Build a sink from a spec such as ``"sqlite:billing.db"`` or ``"console"``, importing its plugin if needed.

        Raises :class:`UnknownSinkError` listing the schemes there are.
        """
        scheme, _, rest = spec.partition(":")
        factory = self._factory("sink", scheme)
        if factory is None:
            raise UnknownSinkError(
                f"no sink scheme {scheme!r} is registered (there are: {self._known('sink')}); spec was {spec!r}"
                + self._failure_note("sink", scheme)
            )
        sink = factory(rest)
        if not isinstance(sink, Sink):
            raise PluginError(f"the factory of sink {scheme!r} returned {type(sink).__name__}, not a viam_billing.Sink")
        return sink

    def _failure_note(self, kind: PluginKind, name: str) -> str:
        entry = self._entries.get((kind, name))
        return "" if entry is None or entry.error is None else f"; its plugin failed to load: {entry.error}"

    def observers(self) -> Observers | None:
        """The call observers, loading the observer plugins on first use; ``None`` when there are none.

        ``None`` is the common case and costs the client nothing per call.
        """
        if not self._observers_loaded:
            with self._lock:
                for kind, name in list(self._entries):
                    if kind == "observer":
                        self._load(kind, name)
                self._observers_loaded = True
        hook = self.manager.hook
        if not hook.call_started.get_hookimpls() and not hook.call_finished.get_hookimpls():
            return None
        return Observers(hook.call_started, hook.call_finished)

    def plugins(self) -> list[PluginInfo]:
        """Every plugin entry: found through entry points (loaded or not, failed or not) and registered directly."""
        found = [
            entry.info(*self._provided_by(entry.plugin)) if entry.loaded else entry.info()
            for entry in self._entries.values()
        ]
        return [*found, *self._refused, *self._direct]


def _plugin_name(plugin: object) -> str:
    """pluggy's name for a plugin object: its module name, so a module listed twice is one plugin."""
    return getattr(plugin, "__name__", None) or f"{type(plugin).__module__}.{type(plugin).__qualname__}@{id(plugin)}"


def _collector(
    hook: str, into: dict[str, Any], on_conflict: Callable[[str, str], None] | None = None
) -> Callable[[str, Any], None]:
    """The ``register`` callable handed to a registration hook: checks each name and factory, keeps the first."""

    def register(name: str, factory: Any) -> None:
        if not isinstance(name, str) or not name:
            raise PluginError(f"{hook}: the name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise PluginError(f"{hook}: the factory for {name!r} is not callable")
        if name in into:
            if on_conflict is not None:
                on_conflict(hook, name)
            return
        into[name] = factory

    return register


_registry: PluginRegistry | None = None
_registry_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry; the entry points are read on first use, the plugins loaded as needed."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = PluginRegistry()
    return _registry


def list_plugins(*, load: bool = False) -> list[PluginInfo]:
    """Every plugin of the process-wide registry; with ``load=True`` each is imported first, to show what it
    registers and whether it loads at all.
    """
    registry = get_registry()
    if load:
        registry.load_all()
    return registry.plugins()


def create_transport(name: str, **options: Any) -> AsyncTransport:
    """Build a registered transport by name; see :meth:`PluginRegistry.create_transport`."""
    return get_registry().create_transport(name, **options)


def create_sink(spec: str) -> Sink:
    """Build a registered sink from its spec; see :meth:`PluginRegistry.create_sink`."""
    return get_registry().create_sink(spec)
