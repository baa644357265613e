"""The ``viam-billing`` command line (``python -m viam_billing`` runs it too)."""

from __future__ import annotations

from . import _commands as _commands
from . import _demo as _demo
from . import _export as _export
from . import _report as _report
from ._app import cli as cli
from ._app import main as main

__all__ = ["cli", "main"]
