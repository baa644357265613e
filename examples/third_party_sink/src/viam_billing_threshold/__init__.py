"""A viam-billing sink plugin: an alert when an organization's month-to-date usage passes a limit.

Listed under the ``viam_billing.sinks`` entry-point group as ``threshold`` (see ``pyproject.toml``): viam-billing
finds it without being told, and imports it only when a ``threshold`` sink is first asked for. It is written on
:mod:`viam_billing.plugin` and :mod:`viam_billing` alone, as any plugin should be.

Spec: ``threshold:LIMIT`` (alerts on standard error) or ``threshold:LIMIT@PATH`` (alerts appended to ``PATH`` as
JSON lines).
"""

from __future__ import annotations

from ._sink import ThresholdSink as ThresholdSink
from ._sink import register_sinks as register_sinks

__all__ = ["ThresholdSink", "register_sinks"]
