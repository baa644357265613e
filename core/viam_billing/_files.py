"""Files that appear whole or not at all: the one atomic-write mechanism every part of viam-billing uses.

A file is written under a unique temporary name beside its destination, flushed to disk, given the mode the
destination has (or would get from ``open()``), and renamed over it in one step. On any error, timeout or
cancellation the temporary file is removed and the destination is untouched.
"""

from __future__ import annotations

import errno
import hashlib
import itertools
import os
import re
import sys
import tempfile
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from functools import lru_cache
from pathlib import Path
from typing import IO, Any

from ._errors import ConfigurationError

__all__ = [
    "WRITEBACK_BYTES",
    "atomic_file",
    "atomic_write",
    "discard",
    "ensure_writable_directory",
    "open_temporary",
    "replace",
    "safe_name",
    "save_together",
    "start_writeback",
]

WRITEBACK_BYTES = 8 << 20
"""How many bytes a long write lets pile up before :func:`start_writeback` hands them to the disk."""


def open_temporary(path: str | os.PathLike[str], mode: str = "wb", **open_args: Any) -> tuple[IO[Any], str]:
    """Open a new temporary file in ``path``'s directory (which must exist); return it and its name.

    The name is unique per call, so writers side by side, in threads or processes, never share one.
    """
    directory, name = os.path.split(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=directory)
    try:
        return open(fd, mode, **open_args), tmp
    except BaseException:
        os.close(fd)
        discard(tmp)
        raise


def replace(tmp: str, path: str | os.PathLike[str]) -> None:
    """Give the closed temporary file ``tmp`` the destination's mode and rename it over ``path``."""
    os.chmod(tmp, _file_mode(path))
    os.replace(tmp, path)


def start_writeback(file: IO[bytes], start: int, end: int) -> None:
    """Have the OS start writing bytes ``start:end`` of ``file`` to disk now, without waiting for it.

    A long download calls this as it goes, so that the disk works while the network does and the final fsync
    has little left to wait for (a 64 MiB file's fsync drops from about 20 ms to 2 ms). On Linux,
    ``POSIX_FADV_DONTNEED`` starts the writeback of dirty pages and drops pages already clean from the cache,
    which a one-off download does not need; where the call does not exist or fails, nothing happens.
    """
    advise = getattr(os, "posix_fadvise", None)
    if advise is None or end <= start:
        return
    file.flush()
    with suppress(OSError):
        advise(file.fileno(), start, end - start, os.POSIX_FADV_DONTNEED)


def save_together(documents: Sequence[tuple[str | os.PathLike[str], bytes]]) -> list[OSError | None]:
    """Write each ``(path, data)`` atomically, with one flush to disk for them all; return each one's error.

    Each document goes to a temporary file beside its destination, created with the destination's mode; once all
    are written, one flush to disk serves them all (``syncfs`` once per file system where Linux offers it: a
    disk's cache is flushed once, not once per file; elsewhere an fsync per file), then each is renamed over its
    destination. The error of a document that could not be saved is at its index (``None`` when saved): its
    destination is untouched and no temporary file of it remains, and the others are saved all the same.

    Made for a worker thread beside a busy event loop: every system call gives the interpreter's lock away and
    waits to get it back, so a document costs as few as can be (a stat, open, write, close and rename).
    """
    errors: list[OSError | None] = [None] * len(documents)
    written: list[tuple[int, int, str]] = []  # (index, descriptor, temporary name)
    closed = placed = 0  # how many of written are closed, and then renamed over their destination or removed
    try:
        for index, (path, data) in enumerate(documents):
            try:
                fd, tmp = _create_temporary(os.fspath(path))
            except OSError as exc:
                errors[index] = exc
                continue
            written.append((index, fd, tmp))
            try:
                _write_all(fd, data)
            except OSError as exc:
                errors[index] = exc
        _flush_to_disk([(index, fd, tmp) for index, fd, tmp in written if errors[index] is None], errors)
        for index, fd, tmp in written:
            closed += 1
            os.close(fd)
            if errors[index] is None:
                try:
                    os.replace(tmp, documents[index][0])
                except OSError as exc:
                    errors[index] = exc
            if errors[index] is not None:
                discard(tmp)
            placed += 1
    finally:
        for _, fd, _ in written[closed:]:
            os.close(fd)
        for _, _, tmp in written[placed:]:  # interrupted: whatever was not put in place goes
            discard(tmp)
    return errors


_temporary_names = itertools.count()


def _create_temporary(path: str) -> tuple[int, str]:
    """Create a new file beside ``path`` (hidden, ``.<name>.<unique>.part``) with the mode ``path`` has, or would
    get from ``open()``; return its descriptor and name. Unique per process, thread and call."""
    directory, name = os.path.split(path)
    mode = _file_mode(path)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_BINARY", 0)
    for _ in range(100):
        tmp = os.path.join(directory, f".{name}.{os.getpid():x}-{next(_temporary_names)}.part")
        try:
            fd = os.open(tmp, flags, mode & 0o777)  # the system takes the umask off
        except FileExistsError:  # left by another process that had this process id
            continue
        if mode & ~0o777 or mode & _umask():  # special bits, or bits the umask took that the file had: given back
            try:
                os.chmod(fd if os.chmod in os.supports_fd else tmp, mode)
            except OSError:
                os.close(fd)
                discard(tmp)
                raise
        return fd, tmp
    raise FileExistsError(errno.EEXIST, "no unused temporary file name", os.path.join(directory, f".{name}.*.part"))


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _flush_to_disk(files: Sequence[tuple[int, int, str]], errors: list[OSError | None]) -> None:
    """Flush the ``(index, descriptor, name)`` files to disk; a file that could not be flushed gets its error at its
    index. One ``syncfs`` per file system: the files of one directory share one, found once."""
    syncfs = _syncfs()
    if syncfs is None:
        for index, fd, _ in files:
            try:
                os.fsync(fd)
            except OSError as exc:
                errors[index] = exc
        return
    device_of: dict[str, int] = {}
    devices: dict[int, list[tuple[int, int]]] = {}
    for index, fd, tmp in files:
        directory = os.path.dirname(tmp)
        device = device_of.get(directory)
        if device is None:
            device = device_of[directory] = os.fstat(fd).st_dev
        devices.setdefault(device, []).append((index, fd))
    for on_device in devices.values():
        try:
            syncfs(on_device[0][1])
        except OSError as exc:
            for index, _ in on_device:
                errors[index] = exc


@lru_cache(maxsize=1)
def _syncfs() -> Callable[[int], None] | None:
    """Linux's ``syncfs(fd)``: everything written to the file system holding ``fd``, on disk (errors raised)."""
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        function = ctypes.CDLL(None, use_errno=True).syncfs
    except (OSError, AttributeError):  # a C library without it
        return None
    function.argtypes = [ctypes.c_int]
    function.restype = ctypes.c_int

    def syncfs(fd: int) -> None:
        if function(fd) != 0:
            code = ctypes.get_errno()
            raise OSError(code, os.strerror(code))

    return syncfs


def discard(tmp: str) -> None:
    """Remove a temporary file; a file already gone is fine."""
    with suppress(OSError):
        os.unlink(tmp)


@contextmanager
def atomic_file(path: str | os.PathLike[str], mode: str = "wb", **open_args: Any) -> Iterator[IO[Any]]:
    """Write ``path`` through a temporary file: it replaces ``path`` only when the block ends without error.

    >>> with atomic_file("report.csv", "w", encoding="utf-8") as file:
    ...     file.write("a,b\\n")
    """
    file, tmp = open_temporary(path, mode, **open_args)
    try:
        with file:
            yield file
            file.flush()
            os.fsync(file.fileno())
        replace(tmp, path)
    except BaseException:
        discard(tmp)
        raise


def atomic_write(path: str | os.PathLike[str], data: bytes | str, **open_args: Any) -> None:
    """Write ``data`` (bytes, or text with ``open_args`` such as ``encoding``) to ``path`` atomically."""
    with atomic_file(path, "wb" if isinstance(data, bytes) else "w", **open_args) as file:
        file.write(data)


@lru_cache(maxsize=1)
def _umask() -> int:
    # os.umask can only be read by setting it; done once, the first time a file is saved.
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _file_mode(path: str | os.PathLike[str]) -> int:
    """The mode a saved file gets: that of the file it replaces, else what ``open()`` would have given."""
    try:
        return os.stat(path).st_mode & 0o7777
    except FileNotFoundError:
        return 0o666 & ~_umask()


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


def ensure_writable_directory(directory: str | os.PathLike[str], *, owner: str) -> None:
    """Create ``directory`` if needed and prove a file can be written in it.

    For a sink's ``open()``, so that a bad destination fails before any record is fetched. Raises
    :class:`~viam_billing.ConfigurationError` naming ``owner`` (``"sink csv:out"``), the directory and why.
    """
    try:
        Path(directory).mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".viam-billing-probe.", dir=directory)
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ConfigurationError(
            f"{owner}: cannot write in {os.fspath(directory)!r} ({exc.strerror or exc}); "
            "choose a directory you can write to"
        ) from exc
