"""Atomic writes: files and folders appear whole or not at all; leftovers are swept."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from unimed_kedro.io.atomic import (
    NewFiles,
    atomic_dir,
    link_or_copy,
    process_alive,
    remove_stale_temporaries,
    temporary,
    temporary_writer,
    write_all,
)


def _dead_pid() -> int:
    """The pid of a process that has ended (and was waited for)."""
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporaries_are_swept(tmp_path):
    dead = _dead_pid()
    (tmp_path / f".x.tar.tmp-{dead}-0badc0de").write_bytes(b"partial")
    (tmp_path / "keep.tar").write_bytes(b"done")
    own = Path(temporary(tmp_path / "index.csv"))
    own.write_bytes(b"being written by this process")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([own.name, "keep.tar"])


def test_temporary_names_are_hidden_unique_and_recognised(tmp_path):
    first, second = temporary(tmp_path / "a.tar"), temporary(tmp_path / "a.tar")
    assert first != second and Path(first).parent == tmp_path
    assert Path(first).name.startswith(".a.tar.tmp-")
    assert temporary_writer(Path(first).name) == os.getpid()
    assert temporary_writer("a.tar") is None


def test_sweep_keeps_a_live_processs_temporary_and_look_alike_names(tmp_path):
    """Another run's worker still writing, and raw-derived names that only look
    temporary (old `<name>.tmp-<pid>` style, a sample id with `.tmp-` in it), stay."""
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        writing = tmp_path / f".cxr-train-000001.tar.tmp-{live.pid}-0123abcd"
        writing.write_bytes(b"another live run's shard")
        chunk = tmp_path / f".chunk-000002.tmp-{live.pid}-89abcdef"
        chunk.mkdir()
        (chunk / "a.jpg").write_bytes(b"being written")
        look_alikes = [
            f"x.tar.tmp-{_dead_pid()}",
            "scan.tmp-123.jpg",
            "nih-00000001_000.tmp-123",
            ".hidden.tmp-123",
            ".a.tmp-123-notahex!",
        ]
        for name in look_alikes:
            (tmp_path / name).write_bytes(b"raw-derived")
        assert remove_stale_temporaries(tmp_path) == 0
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [writing.name, chunk.name, *look_alikes]
        )
        assert (chunk / "a.jpg").exists()
    finally:
        live.kill()
        live.wait()
    assert remove_stale_temporaries(tmp_path) == 2  # its writer is gone now
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(look_alikes)


def test_stale_temporary_folders_are_swept_whole(tmp_path):
    dead = _dead_pid()
    chunk = tmp_path / "store" / f".chunk-000001.tmp-{dead}-00000001"
    chunk.mkdir(parents=True)
    (chunk / "a.jpg").write_bytes(b"partial")
    (chunk / f".b.jpg.tmp-{dead}-00000002").write_bytes(b"inside a stale folder")
    assert remove_stale_temporaries(tmp_path) == 1
    assert list((tmp_path / "store").iterdir()) == []


def test_folder_replaces_the_old_one_whole_or_not_at_all(tmp_path):
    target = tmp_path / "chunk"
    with atomic_dir(target) as folder:
        (folder / "a.jpg").write_bytes(b"first")
        assert not target.exists()
    with pytest.raises(RuntimeError), atomic_dir(target) as folder:
        (folder / "b.jpg").write_bytes(b"half")
        raise RuntimeError("killed")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk"]
    assert [p.name for p in target.iterdir()] == ["a.jpg"]
    with atomic_dir(target) as folder:
        (folder / "b.jpg").write_bytes(b"second")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["chunk"]
    assert [p.name for p in target.iterdir()] == ["b.jpg"]


def test_link_or_copy_links_on_one_filesystem_and_copies_across(tmp_path):
    source = tmp_path / "store.jpg"
    source.write_bytes(b"jpeg bytes")
    link_or_copy(str(source), str(tmp_path / "linked.jpg"))
    assert (tmp_path / "linked.jpg").stat().st_ino == source.stat().st_ino
    link_or_copy(str(source), str(tmp_path / "linked.jpg"))  # replacing is fine too
    assert sorted(p.name for p in tmp_path.iterdir()) == ["linked.jpg", "store.jpg"]
    other = Path("/dev/shm")
    if not other.is_dir() or os.stat(other).st_dev == source.stat().st_dev:
        pytest.skip("no second filesystem to copy across")
    target = other / f"unimed-kedro-test-{os.getpid()}.jpg"
    try:
        link_or_copy(str(source), str(target))  # os.link fails with EXDEV here
        assert target.read_bytes() == b"jpeg bytes"
        assert target.stat().st_ino != source.stat().st_ino
    finally:
        target.unlink(missing_ok=True)


@pytest.mark.parametrize("unnamed_files", [True, False], ids=["O_TMPFILE", "rename"])
def test_new_files_appear_whole_and_replace_on_rerun(tmp_path, monkeypatch, unnamed_files):
    if not unnamed_files:
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    source = tmp_path / "store.jpg"
    source.write_bytes(b"jpeg bytes")
    for text in (b"first caption", b"second caption"):  # the second run replaces
        with NewFiles(str(tmp_path / "layout")) as files:
            files.write("a.txt", text)
            files.link(str(source), "a.jpg")
            if unnamed_files and hasattr(os, "O_TMPFILE"):  # the fast path did not give up
                assert files._tmpfile
        assert (tmp_path / "layout" / "a.txt").read_bytes() == text
    assert (tmp_path / "layout" / "a.jpg").stat().st_ino == source.stat().st_ino
    assert sorted(p.name for p in (tmp_path / "layout").iterdir()) == ["a.jpg", "a.txt"]
    assert oct((tmp_path / "layout" / "a.txt").stat().st_mode & 0o777) == oct(0o644 & ~_umask())


@pytest.fixture
def short_writes(monkeypatch) -> None:
    """`os.write` writing at most 1000 bytes a call, as it may (a signal, a nearly full
    disk, a network filesystem)."""
    real_write = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real_write(fd, bytes(data[:1000])))


def test_write_all_finishes_short_writes_and_raises_without_progress(
    tmp_path, monkeypatch, short_writes
):
    data = bytes(range(256)) * 20
    with open(tmp_path / "out", "wb") as handle:
        write_all(handle.fileno(), memoryview(data))
    assert (tmp_path / "out").read_bytes() == data
    monkeypatch.setattr(os, "write", lambda fd, data: 0)
    with open(tmp_path / "out", "wb") as handle, pytest.raises(OSError, match="short write"):
        write_all(handle.fileno(), data)


@pytest.mark.parametrize("unnamed_files", [True, False], ids=["O_TMPFILE", "rename"])
def test_new_files_are_whole_after_short_writes(tmp_path, monkeypatch, short_writes, unnamed_files):
    if not unnamed_files:
        monkeypatch.delattr(os, "O_TMPFILE", raising=False)
    data = b"a caption longer than one short write " * 200
    with NewFiles(str(tmp_path)) as files:
        files.write("a.txt", data)
        files.write("a.txt", data[::-1])  # a rerun replaces it (the temporary name path)
        if unnamed_files and hasattr(os, "O_TMPFILE"):
            assert files._tmpfile
    monkeypatch.undo()
    assert (tmp_path / "a.txt").read_bytes() == data[::-1]
    assert [p.name for p in tmp_path.iterdir()] == ["a.txt"]


def test_a_failed_new_file_write_is_raised_and_leaves_nothing(tmp_path, monkeypatch):
    """A write error is the write's (a full disk): raised as it is, not taken for a
    filesystem without unnamed files."""

    def full(fd, data):
        raise OSError(28, "No space left on device")

    with NewFiles(str(tmp_path)) as files:
        monkeypatch.setattr(os, "write", full)
        with pytest.raises(OSError, match="No space left"):
            files.write("a.txt", b"caption")
        monkeypatch.undo()
        assert files._tmpfile == getattr(os, "O_TMPFILE", 0)  # the fast path is kept
    assert list(tmp_path.iterdir()) == []


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_a_zombie_writer_counts_as_dead():
    """A SIGKILLed worker nobody reaps stays a zombie: its temporaries are stale."""
    child = subprocess.Popen(["sleep", "30"])
    try:
        assert process_alive(child.pid)
        child.kill()
        deadline = time.monotonic() + 5
        while Path(f"/proc/{child.pid}/stat").read_bytes().split(b") ")[1][:1] != b"Z":
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert not process_alive(child.pid)  # killed, not yet reaped: a zombie
    finally:
        child.wait()
    assert not process_alive(child.pid)


def test_a_file_rewritten_with_the_same_bytes_keeps_its_state(tmp_path):
    from unimed_kedro.io.atomic import atomic_write_bytes

    path = tmp_path / "t.json"
    atomic_write_bytes(path, b"same")
    os.utime(path, ns=(1, 1))
    before = os.stat(path)
    atomic_write_bytes(path, b"same")
    after = os.stat(path)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, 1)
    atomic_write_bytes(path, b"more")
    assert path.read_bytes() == b"more" and os.stat(path).st_ino != before.st_ino
    assert not [p for p in tmp_path.iterdir() if p.name != "t.json"]  # no temporary left
