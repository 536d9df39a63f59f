"""Readahead only hints the kernel: it never blocks on a FIFO among the inputs and reads
ahead regular files only, not through a symbolic link unless asked."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest

from unimed_kedro.io import readahead as module
from unimed_kedro.io.readahead import readahead


@pytest.fixture
def advised(monkeypatch) -> list[str]:
    """The files readahead asked the kernel to fetch, by the path of the opened file."""
    if not hasattr(os, "posix_fadvise"):
        pytest.skip("no posix_fadvise on this platform")
    seen: list[str] = []
    monkeypatch.setattr(
        module.os, "posix_fadvise", lambda fd, *_: seen.append(os.readlink(f"/proc/self/fd/{fd}"))
    )
    return seen


@pytest.fixture
def inputs(tmp_path) -> dict[str, Path]:
    (tmp_path / "plain.jpg").write_bytes(b"jpeg")
    (tmp_path / "link.jpg").symlink_to(tmp_path / "plain.jpg")
    os.mkfifo(tmp_path / "fifo.jpg")
    (tmp_path / "folder.jpg").mkdir()
    return {p.name: p for p in tmp_path.iterdir()} | {"gone.jpg": tmp_path / "gone.jpg"}


def _run(paths: list[Path], **kwargs) -> None:
    """readahead in a thread: a FIFO that blocked it fails the test rather than hang it."""
    done = threading.Event()
    thread = threading.Thread(
        target=lambda: (readahead(map(str, paths), **kwargs), done.set()), daemon=True
    )
    thread.start()
    thread.join(timeout=5)
    assert done.is_set(), "readahead blocked"


def test_only_regular_files_are_read_ahead_and_a_fifo_never_blocks(inputs, advised):
    names = ["fifo.jpg", "gone.jpg", "folder.jpg", "link.jpg", "plain.jpg"]
    _run([inputs[n] for n in names])
    assert advised == [str(inputs["plain.jpg"])]


def test_links_are_followed_only_when_asked(inputs, advised):
    _run([inputs["link.jpg"], inputs["fifo.jpg"]], follow_symlinks=True)
    assert advised == [str(inputs["plain.jpg"])]


def test_a_link_to_a_fifo_never_blocks(tmp_path, inputs, advised):
    (tmp_path / "to-fifo.jpg").symlink_to(inputs["fifo.jpg"])
    _run([tmp_path / "to-fifo.jpg"], follow_symlinks=True)
    _run([tmp_path / "to-fifo.jpg"])
    assert advised == []
