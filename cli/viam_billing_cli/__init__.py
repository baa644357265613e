"""The ``viam-billing`` command line (``python -m viam_billing_cli`` runs it too), and the ``console`` sink.

:func:`main` is the console script: it runs the command and exits with the codes ``viam-billing --help`` lists.
:data:`cli` is the click group, for embedding or testing (``click.testing.CliRunner().invoke(cli, [...])``).
:mod:`viam_billing_cli.console` is the ``console`` sink plugin.

The commands, and click with them, are imported when ``cli`` or ``main`` is first used: a program that only
prints results through the ``console`` sink imports this package too, and needs none of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import cli as cli
    from ._app import main as main

__all__ = ["cli", "main"]


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from viam_billing.plugin import publish

    # Importing a command module adds its commands to the group.
    from . import _app, _charge_plan, _commands, _demo, _export, _finops, _report  # noqa: F401

    globals().update(cli=_app.cli, main=_app.main)
    publish(globals())
    return globals()[name]
