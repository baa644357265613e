"""The atomic-write mechanism shared by PDFs, cassettes, sinks and the command line."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from viam_billing._files import atomic_file, atomic_write, save_together


def test_atomic_write_creates_the_file_with_ordinary_permissions(tmp_path: Path) -> None:
    """A new file gets what open() would give it, and no temporary file remains."""
    path = tmp_path / "out.txt"
    atomic_write(path, "héllo\n", encoding="utf-8")
    assert path.read_text(encoding="utf-8") == "héllo\n"
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask
    assert os.listdir(tmp_path) == ["out.txt"]


def test_an_error_inside_the_block_leaves_the_old_file(tmp_path: Path) -> None:
    """The destination keeps its content and mode when the writer fails half way."""
    path = tmp_path / "out.bin"
    path.write_bytes(b"old")
    path.chmod(0o600)

    def write_half() -> None:
        with atomic_file(path) as file:
            file.write(b"half of the new")
            raise RuntimeError("writer failed")

    with pytest.raises(RuntimeError):
        write_half()
    assert path.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["out.bin"]
    atomic_write(path, b"new")
    assert path.read_bytes() == b"new"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_documents_saved_together_get_the_mode_of_what_they_replace_or_what_open_gives(tmp_path: Path) -> None:
    """save_together: a new file as open() would make it, a replaced one keeps its mode (even one the umask would
    deny), and an unwritable destination fails alone, leaving nothing beside it."""
    kept = tmp_path / "kept.pdf"
    kept.write_bytes(b"old")
    kept.chmod(0o666)
    blocked = tmp_path / "blocked.pdf"
    blocked.mkdir()  # a directory in its place: the rename fails
    new = tmp_path / "new.pdf"
    errors = save_together([(new, b"%PDF-new"), (blocked, b"%PDF-x"), (kept, b"%PDF-kept")])
    assert (errors[0], errors[2]) == (None, None)
    assert isinstance(errors[1], IsADirectoryError)
    assert (new.read_bytes(), kept.read_bytes()) == (b"%PDF-new", b"%PDF-kept")
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(new.stat().st_mode) == 0o666 & ~umask
    assert stat.S_IMODE(kept.stat().st_mode) == 0o666
    assert sorted(os.listdir(tmp_path)) == ["blocked.pdf", "kept.pdf", "new.pdf"]
    assert os.listdir(blocked) == []
