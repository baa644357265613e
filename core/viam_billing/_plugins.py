"""Finding, loading and asking the plugins.

Plugins come from the ``viam_billing`` entry-point group; our own transports and sinks are listed there too.
A plugin that fails to import or to validate is reported by name (a :class:`PluginLoadWarning` and an entry in
:func:`list_plugins`) and never stops the others.

Environment variables, read when the plugins are first loaded:

``VIAM_BILLING_DISABLE_PLUGIN_AUTOLOAD``
    Set to a non-empty value: load only the plugins that come with viam-billing itself.
``VIAM_BILLING_BLOCK_PLUGINS``
    Comma-separated entry-point names that are not loaded at all (built-ins included).
"""

from __future__ import annotations

import logging
import os
import threading
import warnings
from collections.abc import Callable
from importlib import metadata
from typing import Any

import attrs
import pluggy

from . import hookspecs
from ._errors import PluginError, UnknownSinkError, UnknownTransportError
from ._sinks import Sink
from ._transport import AsyncTransport

__all__ = [
    "BLOCK_ENV",
    "DISABLE_AUTOLOAD_ENV",
    "ENTRY_POINT_GROUP",
    "PluginInfo",
    "PluginLoadWarning",
    "PluginRegistry",
    "create_sink",
    "create_transport",
    "get_registry",
    "list_plugins",
]

logger = logging.getLogger("viam_billing.plugins")

ENTRY_POINT_GROUP = "viam_billing"
DISABLE_AUTOLOAD_ENV = "VIAM_BILLING_DISABLE_PLUGIN_AUTOLOAD"
BLOCK_ENV = "VIAM_BILLING_BLOCK_PLUGINS"
_OWN_DISTRIBUTION = "viam-billing"


class PluginLoadWarning(UserWarning):
    """Warned when a plugin could not be loaded or registered; the others are loaded all the same."""


@attrs.frozen(kw_only=True)
class PluginInfo:
    """One plugin as :func:`list_plugins` shows it; ``error`` says why it failed, if it did."""

    name: str
    distribution: str | None = None
    version: str | None = None
    module: str | None = None
    transports: tuple[str, ...] = ()
    sinks: tuple[str, ...] = ()
    error: str | None = None


def _distribution_name(ep: metadata.EntryPoint) -> tuple[str | None, str | None]:
    dist = getattr(ep, "dist", None)
    if dist is None:
        return None, None
    return dist.metadata["Name"], dist.version


class PluginRegistry:
    """The plugin manager and what its plugins registered.

    Most code uses the process-wide one from :func:`get_registry`. Tests and embedders may build their own with
    ``PluginRegistry(load_entry_points=False)`` and :meth:`register` plugin objects directly.
    """

    def __init__(self, *, load_entry_points: bool = True) -> None:
        self.manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
        self.manager.add_hookspecs(hookspecs)
        self._infos: list[PluginInfo] = []
        self.transports: dict[str, hookspecs.TransportFactory] = {}
        self.sinks: dict[str, hookspecs.SinkFactory] = {}
        if load_entry_points:
            self._load_entry_points()

    # -- loading ---------------------------------------------------------------------------------------------

    def _load_entry_points(self) -> None:
        blocked = {name.strip() for name in os.environ.get(BLOCK_ENV, "").split(",") if name.strip()}
        builtins_only = bool(os.environ.get(DISABLE_AUTOLOAD_ENV))
        seen: dict[str, str | None] = {}  # entry-point name -> the distribution that provided it
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            distribution, version = _distribution_name(ep)
            if ep.name in seen:
                if seen[ep.name] != distribution:
                    other = PluginInfo(name=ep.name, distribution=distribution, version=version, module=ep.value)
                    self._failed(other, f"the name is already taken by the distribution {seen[ep.name]!r}")
                # else: the same distribution visible twice on sys.path (an editable and a regular install)
                continue
            seen[ep.name] = distribution
            if ep.name in blocked:
                logger.debug("plugin %r blocked by %s", ep.name, BLOCK_ENV)
                continue
            if builtins_only and distribution != _OWN_DISTRIBUTION:
                logger.debug("plugin %r not autoloaded (%s is set)", ep.name, DISABLE_AUTOLOAD_ENV)
                continue
            info = PluginInfo(name=ep.name, distribution=distribution, version=version, module=ep.value)
            try:
                plugin = ep.load()
            except Exception as exc:
                self._failed(info, f"import of {ep.value!r} failed: {type(exc).__name__}: {exc}")
                continue
            self._add(plugin, info)

    def register(self, plugin: object, name: str | None = None) -> PluginInfo:
        """Register a plugin object (a module or an instance with hook implementations) and return its entry.

        A plugin that fails validation is not registered; its entry carries the error and a
        :class:`PluginLoadWarning` is issued.
        """
        name = name or getattr(plugin, "__name__", None) or type(plugin).__name__
        return self._add(plugin, PluginInfo(name=name, module=getattr(plugin, "__name__", None)))

    def _failed(self, info: PluginInfo, reason: str) -> PluginInfo:
        info = attrs.evolve(info, error=reason)
        self._infos.append(info)
        warnings.warn(f"viam-billing plugin {info.name!r} was not loaded: {reason}", PluginLoadWarning, stacklevel=4)
        return info

    def _add(self, plugin: object, info: PluginInfo) -> PluginInfo:
        if any(loaded.name == info.name and loaded.error is None for loaded in self._infos):
            return self._failed(info, "a plugin of that name is already registered")
        try:
            self.manager.register(plugin, name=info.name)
        except Exception as exc:  # pluggy's PluginValidationError, or a ValueError for a duplicate object
            return self._failed(info, f"{type(exc).__name__}: {exc}")
        # Both hooks run before anything is kept: a plugin whose second hook fails leaves nothing registered.
        transports = self._collect(info.name, plugin, "register_transports", self.transports)
        sinks = self._collect(info.name, plugin, "register_sinks", self.sinks)
        if isinstance(transports, str) or isinstance(sinks, str):
            self.manager.unregister(plugin)
            return self._failed(info, transports if isinstance(transports, str) else str(sinks))
        self.transports.update(transports)
        self.sinks.update(sinks)
        info = attrs.evolve(info, transports=tuple(transports), sinks=tuple(sinks))
        self._infos.append(info)
        return info

    def _collect(self, plugin_name: str, plugin: object, hook: str, into: dict[str, Any]) -> dict[str, Any] | str:
        """Call one plugin's registration hook by itself, so that what it registers is attributed to it.

        Returns what it registered (names not already in ``into``), or why the hook failed.
        """
        impls = [impl for impl in getattr(self.manager.hook, hook).get_hookimpls() if impl.plugin is plugin]
        added: dict[str, Any] = {}

        def register(key: str, factory: Any) -> None:
            if not isinstance(key, str) or not key:
                raise PluginError(f"{hook}: the name must be a non-empty string, got {key!r}")
            if not callable(factory):
                raise PluginError(f"{hook}: the factory for {key!r} is not callable")
            if key in into or key in added:
                warnings.warn(
                    f"viam-billing plugin {plugin_name!r}: {key!r} is already registered by another plugin; "
                    "the first registration is kept",
                    PluginLoadWarning,
                    stacklevel=2,
                )
                return
            added[key] = factory

        for impl in impls:
            try:
                impl.function(register=register)
            except Exception as exc:
                return f"{hook} failed: {type(exc).__name__}: {exc}"
        return added

    # -- use -------------------------------------------------------------------------------------------------

    def plugins(self) -> list[PluginInfo]:
        """Every plugin seen, loaded or failed, in load order."""
        return list(self._infos)

    def create_transport(self, name: str, **options: Any) -> AsyncTransport:
        """Build the transport registered as ``name`` with ``options``; the error lists the registered names."""
        factory = self.transports.get(name)
        if factory is None:
            known = ", ".join(sorted(self.transports)) or "none"
            raise UnknownTransportError(
                f"no transport named {name!r} is registered (registered: {known}); "
                "install the plugin that provides it, or check `viam-billing plugins`"
            )
        return factory(**options)

    def create_sink(self, spec: str) -> Sink:
        """Build a sink from a spec such as ``"sqlite:billing.db"`` or ``"console"``."""
        scheme, _, rest = spec.partition(":")
        factory = self.sinks.get(scheme)
        if factory is None:
            known = ", ".join(sorted(self.sinks)) or "none"
            raise UnknownSinkError(f"no sink scheme {scheme!r} is registered (registered: {known}); spec was {spec!r}")
        return factory(rest)

    def call_hooks(self) -> tuple[Callable[..., Any], Callable[..., Any]] | None:
        """The observing hooks, or ``None`` when no plugin implements either (the common, fast case)."""
        hook = self.manager.hook
        if not hook.call_started.get_hookimpls() and not hook.call_finished.get_hookimpls():
            return None
        return hook.call_started, hook.call_finished


_registry: PluginRegistry | None = None
_registry_lock = threading.Lock()


def get_registry() -> PluginRegistry:
    """The process-wide registry, loading the plugins on first use."""
    global _registry
    if _registry is None:
        with _registry_lock:
            if _registry is None:
                _registry = PluginRegistry()
    return _registry


def list_plugins() -> list[PluginInfo]:
    """Every plugin of the process-wide registry, loaded or failed."""
    return get_registry().plugins()


def create_transport(name: str, **options: Any) -> AsyncTransport:
    """Build a registered transport by name; see :meth:`PluginRegistry.create_transport`."""
    return get_registry().create_transport(name, **options)


def create_sink(spec: str) -> Sink:
    """Build a registered sink from its spec; see :meth:`PluginRegistry.create_sink`."""
    return get_registry().create_sink(spec)
