"""Writable destinations, checked when a sink opens."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from viam_billing import ConfigurationError

__all__ = ["ensure_writable_directory"]


def ensure_writable_directory(directory: Path, *, sink: str) -> None:
    """Create ``directory`` if needed and prove a file can be written in it, or raise ConfigurationError."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".viam-billing-probe.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigurationError(
            f"sink {sink}: cannot write in {str(directory)!r} ({exc.strerror or exc}); "
            "choose a directory you can write to"
        ) from exc
