"""Group commit of downloaded documents: saved together, each caller told of its own outcome."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

import anyio
import anyio.from_thread
import anyio.lowlevel
import pytest
from viam_billing import _files
from viam_billing._saving import CommitGroup

pytestmark = pytest.mark.anyio


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


@pytest.fixture
def batches(monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The names saved by each trip to the worker thread, in order (the real function does the saving)."""
    seen: list[list[str]] = []
    real = _files.save_together

    def spy(documents: Any) -> Any:
        seen.append([os.path.basename(path) for path, _ in documents])
        return real(documents)

    monkeypatch.setattr(_files, "save_together", spy)
    return seen


async def save_all(group: CommitGroup, directory: Path, names: list[str]) -> dict[str, BaseException | None]:
    outcomes: dict[str, BaseException | None] = {}

    async def one(name: str) -> None:
        try:
            await group.save(directory / name, name.encode() * 100)
            outcomes[name] = None
        except OSError as exc:
            outcomes[name] = exc

    async with anyio.create_task_group() as tasks:
        for name in names:
            tasks.start_soon(one, name)
    return outcomes


async def test_documents_saved_at_once_share_trips_to_the_disk(tmp_path: Path, batches: list[list[str]]) -> None:
    """Forty saves side by side: every file whole and in place, no temporary file left, and far fewer flushes
    to disk than files (the first goes alone, the rest wait for it and go together)."""
    names = [f"doc-{n:02}.pdf" for n in range(40)]
    outcomes = await save_all(CommitGroup(), tmp_path, names)
    assert outcomes == dict.fromkeys(names)
    assert listing(tmp_path) == names
    assert all((tmp_path / name).read_bytes() == name.encode() * 100 for name in names)
    assert sorted(name for batch in batches for name in batch) == names
    assert len(batches) <= 3


async def test_one_document_that_fails_leaves_the_others_saved(tmp_path: Path) -> None:
    """A document whose destination cannot be written (here: its directory is gone) raises its own error; the
    others in the same trip are saved."""
    missing = tmp_path / "gone"
    outcomes: dict[str, BaseException | None] = {}
    group = CommitGroup()

    async def one(path: Path) -> None:
        try:
            await group.save(path, b"%PDF-1.4\n")
            outcomes[path.name] = None
        except OSError as exc:
            outcomes[path.name] = exc

    async with anyio.create_task_group() as tasks:
        for path in (tmp_path / "a.pdf", missing / "b.pdf", tmp_path / "c.pdf"):
            tasks.start_soon(one, path)
    failure = outcomes.pop("b.pdf")
    assert isinstance(failure, FileNotFoundError)
    assert outcomes == {"a.pdf": None, "c.pdf": None}
    assert listing(tmp_path) == ["a.pdf", "c.pdf"]


async def test_a_failed_flush_to_disk_fails_every_document_of_that_file_system(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the flush to disk reports an error (an I/O error, a full disk), no document of that trip is put in
    place: each caller gets the error, every destination keeps what it had, no temporary file is left."""

    def failing_syncfs(fd: int) -> None:
        raise OSError(errno.EIO, os.strerror(errno.EIO))

    monkeypatch.setattr(_files, "_syncfs", lambda: failing_syncfs)
    monkeypatch.setattr(os, "fsync", failing_syncfs)  # where syncfs is missing, each file's fsync fails alike
    (tmp_path / "a.pdf").write_bytes(b"old")
    outcomes = await save_all(CommitGroup(), tmp_path, ["a.pdf", "b.pdf"])
    assert all(isinstance(error, OSError) and error.errno == errno.EIO for error in outcomes.values())
    assert listing(tmp_path) == ["a.pdf"]
    assert (tmp_path / "a.pdf").read_bytes() == b"old"


async def test_without_syncfs_each_file_is_flushed_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the system has no syncfs (not Linux), each file gets its own fsync before it is renamed."""
    flushed: list[int] = []
    real_fsync = os.fsync

    def counting_fsync(fd: int) -> None:
        flushed.append(fd)
        real_fsync(fd)

    monkeypatch.setattr(_files, "_syncfs", lambda: None)
    monkeypatch.setattr(os, "fsync", counting_fsync)
    names = [f"doc-{n}.pdf" for n in range(5)]
    assert await save_all(CommitGroup(), tmp_path, names) == dict.fromkeys(names)
    assert listing(tmp_path) == names
    assert len(flushed) == 5


async def test_a_save_cancelled_while_it_waits_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A save cancelled while the commit before it is under way leaves no file at all; the commit under way ends
    and saves its own documents."""
    started, release = anyio.Event(), anyio.Event()
    real = _files.save_together
    token = anyio.lowlevel.current_token()

    def slow(documents: Any) -> Any:
        anyio.from_thread.run_sync(started.set, token=token)
        anyio.from_thread.run(release.wait, token=token)
        return real(documents)

    monkeypatch.setattr(_files, "save_together", slow)
    group = CommitGroup()
    async with anyio.create_task_group() as tasks:
        tasks.start_soon(group.save, tmp_path / "first.pdf", b"first")
        await started.wait()
        waiting = anyio.CancelScope()
        tasks.start_soon(_cancelled_save, group, tmp_path / "second.pdf", waiting)
        await anyio.wait_all_tasks_blocked()
        waiting.cancel()
        await anyio.wait_all_tasks_blocked()
        release.set()
    assert waiting.cancelled_caught
    assert listing(tmp_path) == ["first.pdf"]


async def _cancelled_save(group: CommitGroup, path: Path, scope: anyio.CancelScope) -> None:
    with scope:
        await group.save(path, b"second")
