"""A viam-billing sink plugin: an alert when an organization's month-to-date usage passes a limit.

Registered through the ``viam_billing`` entry-point group (see ``pyproject.toml``); viam-billing finds it
without being told. Spec: ``threshold:LIMIT`` (alerts on standard error) or ``threshold:LIMIT@PATH`` (alerts
appended to ``PATH`` as JSON lines).
"""

from __future__ import annotations

from ._sink import ThresholdSink as ThresholdSink
from ._sink import register_sinks as register_sinks

__all__ = ["ThresholdSink", "register_sinks"]
