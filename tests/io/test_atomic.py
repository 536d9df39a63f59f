"""Atomic writes: files and folders appear whole or not at all; leftovers are swept."""

import os
from pathlib import Path

import pytest

from unimed_kedro.io.atomic import (
    NewFiles,
    atomic_dir,
    link_or_copy,
    remove_stale_temporaries,
)


def test_stale_temporaries_are_swept(tmp_path):
    (tmp_path / "x.tar.tmp-123").write_bytes(b"partial")
    (tmp_path / "keep.tar").write_bytes(b"done")
    (tmp_path / f"index.csv.tmp-{os.getpid()}").write_bytes(b"being written by this process")
    assert remove_stale_temporaries(tmp_path) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"index.csv.tmp-{os.getpid()}",
        "keep.tar",
    ]


def test_stale_temporary_folders_are_swept_whole(tmp_path):
    chunk = tmp_path / "store" / "chunk-000001.tmp-123"
    chunk.mkdir(parents=True)
    (chunk / "a.jpg").write_bytes(b"partial")
    (chunk / "b.jpg.tmp-456").write_bytes(b"inside a stale folder")
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


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
