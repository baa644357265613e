"""Invoice PDFs: to a path (atomically), to a file object, as bytes, as a stream."""

from __future__ import annotations

import errno
import io
import os
import stat
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import anyio
import pytest
import viam_billing as vb

pytestmark = pytest.mark.anyio

CHUNKS = [b"%PDF-1.4\n", b"1 0 obj\n", b"%%EOF\n"]


class PdfServer:
    """Streams CHUNKS, optionally failing or hanging after ``stop_after`` chunks; notes when it was closed."""

    def __init__(self, *, stop_after: int | None = None, fail: bool = True) -> None:
        self.stop_after = stop_after
        self.fail = fail
        self.closed_early = False
        self.finished = False

    def __call__(self, operation: vb.Operation[Any, Any], request: vb.Model) -> AsyncIterator[vb.Model]:
        return self._chunks()

    async def _chunks(self) -> AsyncIterator[vb.Model]:
        try:
            for i, chunk in enumerate(CHUNKS):
                if i == self.stop_after:
                    if self.fail:
                        raise vb.UnavailableError("connection dropped", operation="GetInvoicePdf")
                    await anyio.sleep(30)
                yield vb.GetInvoicePdfResponse(chunk=chunk)
            self.finished = True
        except BaseException:
            self.closed_early = True
            raise
        finally:
            if not self.finished:
                self.closed_early = True


def client_for(handler: Any) -> vb.BillingClient:
    return vb.BillingClient(vb.MockTransport(handler), registry=vb.PluginRegistry(load_entry_points=False))


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


async def test_download_to_a_path(tmp_path: Path) -> None:
    """The file holds the chunks in order, and nothing else is left in the directory."""
    dest = tmp_path / "invoice.pdf"
    async with client_for(PdfServer()) as billing:
        size = await billing.get_invoice_pdf("inv-1", "org-1", str(dest))
    assert dest.read_bytes() == b"".join(CHUNKS)
    assert size == len(b"".join(CHUNKS))
    assert listing(tmp_path) == ["invoice.pdf"]


async def test_new_file_gets_ordinary_permissions(tmp_path: Path) -> None:
    """The temporary file's private mode does not leak into the saved PDF."""
    dest = tmp_path / "invoice.pdf"
    async with client_for(PdfServer()) as billing:
        await billing.get_invoice_pdf("inv-1", "org-1", dest)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o666 & ~umask


async def test_replacing_keeps_the_old_mode(tmp_path: Path) -> None:
    """An existing file keeps its permissions when its content is replaced."""
    dest = tmp_path / "invoice.pdf"
    dest.write_bytes(b"old")
    dest.chmod(0o640)
    async with client_for(PdfServer()) as billing:
        await billing.get_invoice_pdf("inv-1", "org-1", dest)
    assert dest.read_bytes() == b"".join(CHUNKS)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o640


@pytest.mark.parametrize("existing", [True, False])
async def test_error_mid_stream_leaves_dest_untouched(tmp_path: Path, existing: bool) -> None:
    """A failure after some chunks keeps the old file (or no file) and removes the temporary one."""
    dest = tmp_path / "invoice.pdf"
    if existing:
        dest.write_bytes(b"old content")
    async with client_for(PdfServer(stop_after=2)) as billing:
        with pytest.raises(vb.UnavailableError):
            await billing.get_invoice_pdf("inv-1", "org-1", dest)
    if existing:
        assert dest.read_bytes() == b"old content"
        assert listing(tmp_path) == ["invoice.pdf"]
    else:
        assert listing(tmp_path) == []


@pytest.mark.parametrize("existing", [True, False])
async def test_cancellation_mid_stream_leaves_dest_untouched(tmp_path: Path, existing: bool) -> None:
    """Cancelling the caller mid-download keeps dest as it was and cancels the stream."""
    dest = tmp_path / "invoice.pdf"
    if existing:
        dest.write_bytes(b"old content")
    server = PdfServer(stop_after=1, fail=False)
    async with client_for(server) as billing:
        with anyio.move_on_after(0.1) as scope:
            await billing.get_invoice_pdf("inv-1", "org-1", dest)
    assert scope.cancelled_caught
    assert server.closed_early
    assert listing(tmp_path) == (["invoice.pdf"] if existing else [])
    if existing:
        assert dest.read_bytes() == b"old content"


async def test_timeout_mid_stream_leaves_no_file(tmp_path: Path) -> None:
    """A download slower than its timeout raises DeadlineExceededError and leaves nothing behind."""
    dest = tmp_path / "invoice.pdf"
    async with client_for(PdfServer(stop_after=1, fail=False)) as billing:
        with pytest.raises(vb.DeadlineExceededError):
            await billing.get_invoice_pdf("inv-1", "org-1", dest, timeout=0.1)
    assert listing(tmp_path) == []


async def test_missing_directory_is_reported_before_downloading(tmp_path: Path) -> None:
    """A dest in a directory that does not exist, or a directory as dest, is a FileError naming dest (also an
    OSError with the system's errno), and nothing is fetched."""
    transport = vb.MockTransport(PdfServer())
    missing = tmp_path / "nope" / "x.pdf"
    async with vb.BillingClient(transport, registry=vb.PluginRegistry(load_entry_points=False)) as billing:
        with pytest.raises(vb.FileError, match="does not exist") as info:
            await billing.get_invoice_pdf("inv-1", "org-1", missing)
        with pytest.raises(vb.FileError, match="is a directory") as directory:
            await billing.get_invoice_pdf("inv-1", "org-1", tmp_path)
    assert info.value.filename == str(missing)
    assert str(missing) in str(info.value)
    assert isinstance(info.value, OSError)
    assert info.value.errno == errno.ENOENT
    assert directory.value.errno == errno.EISDIR
    (tmp_path / "file").write_bytes(b"")
    async with vb.BillingClient(transport, registry=vb.PluginRegistry(load_entry_points=False)) as billing:
        with pytest.raises(vb.FileError, match="is not a directory") as not_directory:
            await billing.get_invoice_pdf("inv-1", "org-1", tmp_path / "file" / "x.pdf")
    assert not_directory.value.errno == errno.ENOTDIR
    assert transport.calls == []


async def test_an_empty_dest_is_refused_before_anything_is_fetched(tmp_path: Path, monkeypatch) -> None:
    """dest="" is a ValidationError naming dest; nothing is fetched and no temporary file appears anywhere."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    transport = vb.MockTransport(PdfServer())
    async with vb.BillingClient(transport, registry=vb.PluginRegistry(load_entry_points=False)) as billing:
        with pytest.raises(vb.ValidationError, match="empty path") as info:
            await billing.get_invoice_pdf("inv-1", "org-1", "")
    assert info.value.argument == "dest"
    assert transport.calls == []
    assert listing(tmp_path) == ["work"]
    assert listing(work) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
async def test_an_unwritable_directory_is_a_file_error_naming_dest(tmp_path: Path) -> None:
    """No permission to write beside dest raises FileError naming dest (not the temporary file); nothing is
    fetched."""
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    dest = locked / "invoice.pdf"
    transport = vb.MockTransport(PdfServer())
    try:
        async with vb.BillingClient(transport, registry=vb.PluginRegistry(load_entry_points=False)) as billing:
            with pytest.raises(vb.FileError) as info:
                await billing.get_invoice_pdf("inv-1", "org-1", dest)
    finally:
        locked.chmod(0o700)
    assert info.value.errno == errno.EACCES
    assert info.value.filename == str(dest)
    assert str(info.value) == f"cannot save the PDF as {str(dest)!r}: Permission denied"
    assert ".part" not in str(info.value)
    assert transport.calls == []


async def test_a_directory_the_system_says_is_not_writable_is_refused_before_fetching(
    tmp_path: Path, monkeypatch
) -> None:
    """A read-only file system says so even to root, who passes permission bits: the error names dest and the
    reason, and nothing is fetched."""
    real_access = os.access

    def read_only(path: Any, mode: int, **kwargs: Any) -> bool:
        return False if os.fspath(path) == str(tmp_path) and mode & os.W_OK else real_access(path, mode, **kwargs)

    monkeypatch.setattr(os, "access", read_only)
    dest = tmp_path / "invoice.pdf"
    transport = vb.MockTransport(PdfServer())
    async with vb.BillingClient(transport, registry=vb.PluginRegistry(load_entry_points=False)) as billing:
        with pytest.raises(vb.FileError) as info:
            await billing.get_invoice_pdf("inv-1", "org-1", dest)
    assert str(info.value) == f"cannot save the PDF as {str(dest)!r}: Permission denied"
    assert (info.value.errno, info.value.filename) == (errno.EACCES, str(dest))
    assert transport.calls == []


async def test_a_temporary_file_refused_at_saving_fails_that_download_alone(tmp_path: Path, monkeypatch) -> None:
    """Downloads finishing together are saved together; one whose temporary file the system refuses is a
    FileError naming its dest (never the temporary name), and the others are saved all the same."""
    from viam_billing import _files

    real_create = _files._create_temporary

    def refuse_one(path: Any, *args: Any, **kwargs: Any) -> Any:
        if os.path.basename(path) == "refused.pdf":
            raise PermissionError(errno.EACCES, "Permission denied", str(tmp_path / ".refused.pdf.x1y2.part"))
        return real_create(path, *args, **kwargs)

    monkeypatch.setattr(_files, "_create_temporary", refuse_one)
    names = ["a.pdf", "refused.pdf", "b.pdf", "c.pdf"]
    outcomes: dict[str, BaseException | int] = {}
    async with client_for(PdfServer()) as billing:

        async def download(name: str) -> None:
            try:
                outcomes[name] = await billing.get_invoice_pdf("inv-1", "org-1", tmp_path / name)
            except vb.FileError as exc:
                outcomes[name] = exc

        async with anyio.create_task_group() as group:
            for name in names:
                group.start_soon(download, name)
    refused = outcomes.pop("refused.pdf")
    assert isinstance(refused, vb.FileError)
    assert str(refused) == f"cannot save the PDF as {str(tmp_path / 'refused.pdf')!r}: Permission denied"
    assert outcomes == dict.fromkeys(["a.pdf", "b.pdf", "c.pdf"], len(b"".join(CHUNKS)))
    assert listing(tmp_path) == ["a.pdf", "b.pdf", "c.pdf"]
    assert all((tmp_path / name).read_bytes() == b"".join(CHUNKS) for name in outcomes)


async def test_a_failing_write_is_a_file_error_naming_dest(tmp_path: Path, monkeypatch) -> None:
    """An OSError while saving (here from the final rename) is a FileError naming dest; the temporary file is
    removed and an existing dest keeps its content."""

    def refuse(tmp: str, path: object) -> None:
        raise PermissionError(errno.EPERM, "Operation not permitted", tmp)

    monkeypatch.setattr(os, "replace", refuse)
    dest = tmp_path / "invoice.pdf"
    dest.write_bytes(b"old")
    async with client_for(PdfServer()) as billing:
        with pytest.raises(vb.FileError, match="Operation not permitted") as info:
            await billing.get_invoice_pdf("inv-1", "org-1", dest)
    assert info.value.filename == str(dest)
    assert ".part" not in str(info.value)
    assert dest.read_bytes() == b"old"
    assert listing(tmp_path) == ["invoice.pdf"]


def empty_pdf(operation: vb.Operation[Any, Any], request: vb.Model) -> list[vb.Model]:
    return [vb.GetInvoicePdfResponse(chunk=b"")]


async def test_an_empty_pdf_keeps_the_old_file_and_is_an_error(tmp_path: Path) -> None:
    """A stream with no bytes is a ProtocolError: an existing dest keeps its content, a new one is not created,
    no temporary file remains."""
    old = tmp_path / "old.pdf"
    old.write_bytes(b"%PDF-old")
    new = tmp_path / "new.pdf"
    async with client_for(empty_pdf) as billing:
        for dest in (old, new):
            with pytest.raises(vb.ProtocolError, match="empty PDF") as info:
                await billing.get_invoice_pdf("inv-1", "org-1", dest)
            assert info.value.operation == "GetInvoicePdf"
    assert old.read_bytes() == b"%PDF-old"
    assert listing(tmp_path) == ["old.pdf"]


async def test_an_empty_pdf_is_an_error_as_bytes_and_to_a_file_object() -> None:
    """The other ways of downloading refuse an empty document too."""
    async with client_for(empty_pdf) as billing:
        with pytest.raises(vb.ProtocolError, match="empty PDF"):
            await billing.get_invoice_pdf_bytes("inv-1", "org-1")
        with pytest.raises(vb.ProtocolError, match="empty PDF"):
            await billing.get_invoice_pdf("inv-1", "org-1", io.BytesIO())


async def test_download_to_a_file_object() -> None:
    """A writable binary file object receives every chunk."""
    buffer = io.BytesIO()
    async with client_for(PdfServer()) as billing:
        size = await billing.get_invoice_pdf("inv-1", "org-1", buffer)
    assert buffer.getvalue() == b"".join(CHUNKS)
    assert size == len(buffer.getvalue())


async def test_non_writable_dest_is_rejected() -> None:
    """Something that is neither a path nor a writable file is named."""
    async with client_for(PdfServer()) as billing:
        with pytest.raises(vb.ValidationError, match="writable"):
            await billing.get_invoice_pdf("inv-1", "org-1", 42)  # type: ignore[arg-type]


async def test_download_as_bytes() -> None:
    """The whole document comes back as bytes."""
    async with client_for(PdfServer()) as billing:
        assert await billing.get_invoice_pdf_bytes("inv-1", "org-1") == b"".join(CHUNKS)


async def test_stream_yields_chunks_and_early_exit_cancels() -> None:
    """Iterating gives the chunks as they come; leaving early closes the stream without waiting for its end."""
    server = PdfServer(stop_after=1, fail=False)
    received = []
    async with client_for(server) as billing:
        with anyio.fail_after(5):
            async with billing.stream_invoice_pdf("inv-1", "org-1") as chunks:
                async for chunk in chunks:
                    received.append(chunk)
                    break
    assert received == CHUNKS[:1]
    assert server.closed_early
    assert not server.finished


async def test_stream_request_carries_both_ids() -> None:
    """The request names the invoice and the organization for the permission check."""
    transport = vb.MockTransport(PdfServer())
    async with vb.BillingClient(transport, registry=vb.PluginRegistry(load_entry_points=False)) as billing:
        await billing.get_invoice_pdf_bytes("inv-1", "org-1")
    assert transport.calls == [("GetInvoicePdf", vb.GetInvoicePdfRequest(id="inv-1", org_id="org-1"))]


@pytest.mark.skipif(not hasattr(os, "posix_fadvise"), reason="posix_fadvise is Linux and some Unixes only")
async def test_long_download_hands_written_ranges_to_the_disk_as_it_goes(tmp_path: Path, monkeypatch) -> None:
    """Every WRITEBACK_BYTES written, the range written since the last time is handed to the OS for writeback
    (flushed first, so the range is really in the file); the content is complete and exact."""
    from viam_billing import _files

    chunk = bytes(range(256)) * 1024  # 256 KiB
    count = 70  # 17.5 MiB: two hand-overs of 8 MiB, the rest left to the final fsync
    advised: list[tuple[int, int, int]] = []
    real = os.posix_fadvise

    def spy(fd: int, offset: int, length: int, advice: int) -> None:
        advised.append((offset, length, os.fstat(fd).st_size))
        real(fd, offset, length, advice)

    monkeypatch.setattr(os, "posix_fadvise", spy)

    async def chunks() -> AsyncIterator[vb.Model]:
        for _ in range(count):
            yield vb.GetInvoicePdfResponse(chunk=chunk)

    dest = tmp_path / "big.pdf"
    async with client_for(lambda operation, request: chunks()) as billing:
        size = await billing.get_invoice_pdf("inv-1", "org-1", dest)
    assert size == count * len(chunk)
    assert dest.read_bytes() == chunk * count
    step = _files.WRITEBACK_BYTES
    assert advised == [(0, step, step), (step, step, 2 * step)]


async def test_progress_reports_each_chunk(tmp_path: Path) -> None:
    """The progress callback sees every chunk's size, to a path and to a file object."""
    for dest in (tmp_path / "invoice.pdf", io.BytesIO()):
        seen: list[int] = []
        async with client_for(PdfServer()) as billing:
            size = await billing.get_invoice_pdf("inv-1", "org-1", dest, progress=seen.append)
        assert seen == [len(chunk) for chunk in CHUNKS]
        assert sum(seen) == size


async def test_the_whole_pdf_reaches_sinks_from_the_bytes_download() -> None:
    """get_invoice_pdf_bytes hands the document to sinks as one record; downloads to files do not."""

    class Keep(vb.Sink):
        name = "keep"

        def __init__(self) -> None:
            self.records: list[vb.Record] = []

        async def write(self, record: vb.Record) -> None:
            self.records.append(record)

    sink = Keep()
    registry = vb.PluginRegistry(load_entry_points=False)
    async with vb.BillingClient(vb.MockTransport(PdfServer()), sinks=[sink], registry=registry) as billing:
        await billing.get_invoice_pdf_bytes("inv-1", "org-1")
        await billing.get_invoice_pdf("inv-1", "org-1", io.BytesIO())
    (record,) = sink.records
    assert record.operation.name == "GetInvoicePdf"
    assert record.org_id == "org-1"
    assert record.request == vb.GetInvoicePdfRequest(id="inv-1", org_id="org-1")
    assert record.result == vb.GetInvoicePdfResponse(chunk=b"".join(CHUNKS))
