"""Group commit for downloads saved to a path: many files saved and flushed to disk at once.

Saving a small file costs far more than receiving it: creating it and flushing it to disk take about a
millisecond of CPU each on ext4, and while the file system commits its journal they stall the thread that asks.
An export saves thousands of invoice PDFs side by side. So a download that has received its whole (small)
document hands it to :class:`CommitGroup`: documents handed in while a commit is under way wait for it to end,
then go together in the next one, in a worker thread, away from the event loop: each written to a temporary
file, one flush to disk for all, then each renamed over its destination (:func:`~._files.save_together`). Each
caller returns only once its own file is on disk and in place, or raises its own error, as if it had saved alone.
"""

from __future__ import annotations

import os

import anyio
import anyio.to_thread

from . import _files

__all__ = ["KEPT_IN_MEMORY", "CommitGroup"]

KEPT_IN_MEMORY = 1 << 20
"""A downloaded document up to this size is kept in memory and saved in a group; a larger one streams to disk."""


class _Pending:
    __slots__ = ("data", "error", "path", "taken", "written")

    def __init__(self, path: str | os.PathLike[str], data: bytes) -> None:
        self.path, self.data = path, data
        self.taken = False
        """In a commit under way: it will be written, whatever happens to its caller."""
        self.written = False
        self.error: BaseException | None = None


class CommitGroup:
    """Saves documents for the tasks of one event loop (asyncio or trio), several at a time.

    No task runs in the background: the first caller to find no commit under way makes the next one, for every
    document waiting, its own included.
    """

    def __init__(self) -> None:
        self._waiting: list[_Pending] = []
        self._committing = False
        self._done: anyio.Event | None = None

    async def save(self, path: str | os.PathLike[str], data: bytes) -> None:
        """Write ``data`` to ``path`` atomically and flush it to disk, together with the documents saved now.

        Raises the ``OSError`` of this document alone; ``path`` is then untouched and no temporary file is left.
        Cancelled while it waits for a commit under way, nothing is written; once its own commit has started,
        that ends first (a few milliseconds), then the cancellation goes on.
        """
        pending = _Pending(path, data)
        self._waiting.append(pending)
        try:
            while self._committing and not pending.taken:
                assert self._done is not None
                await self._done.wait()
        except BaseException:
            if not pending.taken:
                self._waiting.remove(pending)
                raise
            with anyio.CancelScope(shield=True):
                await self._until_written(pending)
            raise
        with anyio.CancelScope(shield=True):
            await self._until_written(pending)
        if pending.error is not None:
            raise pending.error

    async def _until_written(self, pending: _Pending) -> None:
        while not pending.written:
            if self._committing:
                assert self._done is not None
                await self._done.wait()
            else:
                await self._commit_waiting()

    async def _commit_waiting(self) -> None:
        batch, self._waiting = self._waiting, []
        for pending in batch:
            pending.taken = True
        self._committing = True
        done = self._done = anyio.Event()
        try:
            errors = await anyio.to_thread.run_sync(_files.save_together, [(p.path, p.data) for p in batch])
            for pending, error in zip(batch, errors, strict=True):
                pending.error = error
        except BaseException as exc:  # not an OSError of a file: a fault of ours, told to every caller
            for pending in batch:
                pending.error = exc
            raise
        finally:
            for pending in batch:
                pending.written = True
            self._committing = False
            done.set()
