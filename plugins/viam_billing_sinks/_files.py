"""File names made from server ids, and writable destinations."""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
from pathlib import Path

from viam_billing import ConfigurationError

__all__ = ["ensure_writable_directory", "safe_name"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")
_MAX_NAME = 100
# Names Windows reserves whatever the extension; harmless elsewhere, so they are avoided everywhere.
_RESERVED = {"con", "prn", "aux", "nul", *(f"com{i}" for i in range(10)), *(f"lpt{i}" for i in range(10))}


def safe_name(identifier: str) -> str:
    """Return a file name for an id that came from the server, which can never leave its directory.

    Letters, digits, ``.``, ``_`` and ``-`` are kept; anything else (``/``, ``\\``, NUL, spaces, ...) becomes
    ``_`` and leading dots are dropped, so ``..`` or a hidden name cannot be produced. When the name had to change,
    a short hash of the original id is appended, so two different ids never share a file.

    >>> safe_name("in_1Nv4")
    'in_1Nv4'
    >>> safe_name("../../etc/passwd")
    'etc_passwd-3754d6cb3a'
    """
    cleaned = _UNSAFE.sub("_", identifier).lstrip("._") or "_"
    cleaned = cleaned[:_MAX_NAME]
    if cleaned.split(".")[0].lower() in _RESERVED:
        cleaned = f"_{cleaned}"
    if cleaned != identifier:
        digest = hashlib.sha256(identifier.encode("utf-8", "surrogatepass")).hexdigest()[:10]
        cleaned = f"{cleaned}-{digest}"
    return cleaned


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
