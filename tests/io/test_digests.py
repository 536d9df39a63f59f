"""Digests of a folder tree as `lstat` sees it, of what its links lead to, and of code:
every change a reader could notice changes them, nothing else does, and no link is
followed into what it leads to."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from unimed_kedro.io import digests
from unimed_kedro.io.digests import (
    links_state,
    package_digest,
    scan_tree,
    tree_state,
)


def _tree(root: Path, more: int = 0) -> Path:
    """Two images (and `more`) in one folder, and an index beside."""
    (root / "images" / "p1").mkdir(parents=True)
    (root / "images" / "p1" / "a.jpg").write_bytes(b"\xff\xd8 one")
    (root / "images" / "p1" / "b.jpg").write_bytes(b"\xff\xd8 two")
    for i in range(more):
        (root / "images" / "p1" / f"m{i}.jpg").write_bytes(b"\xff\xd8 %d" % i)
    (root / "index.csv").write_text("path,age\nimages/p1/a.jpg,68\n")
    return root


def _edit_keeping_size(path: Path, old: bytes, new: bytes) -> None:
    data = path.read_bytes()
    assert len(old) == len(new) and old in data
    path.write_bytes(data.replace(old, new))


def test_the_state_is_stable_and_counts_files(tmp_path):
    root = _tree(tmp_path / "src")
    state = scan_tree(root)
    assert state.digest == tree_state(root) == tree_state(str(root))
    assert len(state.digest) == 64 and state.files == 3 and state.links == ()


def test_reading_the_files_changes_nothing(tmp_path):
    root = _tree(tmp_path / "src")
    before = tree_state(root)
    for path in root.rglob("*"):
        if path.is_file():
            path.read_bytes()
    assert tree_state(root) == before


@pytest.mark.parametrize(
    "change",
    [
        "edit_same_size_new_mtime",
        "edit_same_size_mtime_set_back",
        "delete_file",
        "add_file",
        "add_hidden_file",
        "add_empty_folder",
        "rename_file",
        "chmod",
        "replace_by_symlink",
        "add_file_deep",
    ],
)
# a folder of many files has them looked up by name in the open folder, of few by path
@pytest.mark.parametrize("more", [0, digests._BY_NAME])
def test_every_change_under_the_folder_changes_the_state(tmp_path, change, more):
    root = _tree(tmp_path / "src", more)
    index, image = root / "index.csv", root / "images" / "p1" / "a.jpg"
    before = tree_state(root)
    stat = index.stat()
    if change == "edit_same_size_new_mtime":
        _edit_keeping_size(index, b"68", b"69")
        os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    elif change == "edit_same_size_mtime_set_back":  # `st_ctime_ns` cannot be set back
        _edit_keeping_size(index, b"68", b"69")
        os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert index.stat().st_mtime_ns == stat.st_mtime_ns
    elif change == "delete_file":
        image.unlink()
    elif change == "add_file":
        (root / "images" / "p1" / "c.jpg").write_bytes(b"")
    elif change == "add_hidden_file":  # nothing under the folder is ignored
        (root / ".DS_Store").write_bytes(b"")
    elif change == "add_empty_folder":
        (root / "images" / "p2").mkdir()
    elif change == "rename_file":
        image.rename(root / "images" / "p1" / "z.jpg")
    elif change == "chmod":
        image.chmod(0o600)
    elif change == "replace_by_symlink":
        copy = tmp_path / "elsewhere.jpg"
        copy.write_bytes(image.read_bytes())
        image.unlink()
        image.symlink_to(copy)
    elif change == "add_file_deep":
        (root / "images" / "p1" / "x" / "y").mkdir(parents=True)
        (root / "images" / "p1" / "x" / "y" / "d.jpg").write_bytes(b"d")
    assert tree_state(root) != before


def _wide_tree(root: Path) -> Path:
    """30 patients of 2 studies of 2 images, a link and an index: a walk goes apart here."""
    for p in range(30):
        for s in range(2):
            study = root / "train" / f"patient{p:05d}" / f"study{s}"
            study.mkdir(parents=True)
            for v in range(2):
                (study / f"view{v}.jpg").write_bytes(bytes([p, s, v]))
    (root / "train" / "patient00007" / "study1" / "alias.jpg").symlink_to("view0.jpg")
    (root / "train.csv").write_text("Path\n")
    return root


@pytest.fixture
def helpers(monkeypatch) -> list[str]:
    """Two helpers whatever the machine, and the kinds of work handed to them."""
    handed: list[str] = []
    submit = digests._Helpers._submit
    monkeypatch.setattr(digests, "_cores", lambda: 2)
    monkeypatch.setattr(
        digests._Helpers,
        "_submit",
        lambda self, *task: handed.append(task[0].__name__) or submit(self, *task),
    )
    return handed


def test_a_walk_split_between_processes_gives_the_walk_of_one(tmp_path, helpers):
    root = _wide_tree(tmp_path / "src")
    alone = scan_tree(root, apart_after=10**9)
    assert helpers == []
    shared = scan_tree(root, apart_after=1)
    assert "_walk_run" in helpers and shared == alone and shared.files == 122
    assert shared.links == (("train/patient00007/study1/alias.jpg", "view0.jpg"),)
    (root / "train" / "patient00029" / "study1" / "view1.jpg").write_bytes(b"edit")
    assert scan_tree(root, apart_after=1) != alone


def test_a_large_folder_s_entries_are_shared_between_processes(tmp_path, helpers, monkeypatch):
    """Blocks of names after a folder's first go to the helpers; the folders among them
    are entered as ever."""
    monkeypatch.setattr(digests, "_BLOCK", 4)
    root = tmp_path / "flat"
    (root / "Images").mkdir(parents=True)
    for i in range(20):
        (root / "Images" / f"{i:02d}.jpg").write_bytes(bytes([i]))
    (root / "Images" / "17-inner").mkdir()
    (root / "Images" / "17-inner" / "x.jpg").write_bytes(b"x")
    (root / "Images" / "19.link").symlink_to("00.jpg")
    alone = scan_tree(root, apart_after=10**9)
    shared = scan_tree(root, apart_after=1)
    assert "_named_run" in helpers and shared == alone and shared.files == 22
    assert shared.links == (("Images/19.link", "00.jpg"),)
    with open(root / "Images" / "18.jpg", "r+b") as handle:  # in a helper's block
        handle.truncate(0)
    assert scan_tree(root, apart_after=1) != alone


def test_links_are_not_followed(tmp_path):
    """A link is one entry (its target text), whatever it leads to: a folder elsewhere, the
    folder itself (a loop), the root of the machine."""
    root = _tree(tmp_path / "src")
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "x.jpg").write_bytes(b"x")
    (root / "linked").symlink_to(outside, target_is_directory=True)
    (root / "loop").symlink_to(".", target_is_directory=True)
    (root / "machine").symlink_to("/", target_is_directory=True)
    (root / "images" / "p1" / "file.jpg").symlink_to(outside / "x.jpg")
    state = scan_tree(root)
    assert state.files == 7
    assert dict(state.links) == {
        "linked": str(outside),
        "loop": ".",
        "machine": "/",
        "images/p1/file.jpg": str(outside / "x.jpg"),
    }
    # what a link leads to is not part of the tree's state
    (outside / "x.jpg").write_bytes(b"changed")
    (outside / "y.jpg").write_bytes(b"y")
    assert tree_state(root) == state.digest
    # the link itself is
    (root / "linked").unlink()
    (root / "linked").symlink_to(tmp_path, target_is_directory=True)
    assert tree_state(root) != state.digest


def test_a_linked_root_is_read_as_the_folder_it_names(tmp_path):
    root = _tree(tmp_path / "src")
    (tmp_path / "alias").symlink_to(root, target_is_directory=True)
    assert tree_state(tmp_path / "alias") == tree_state(root)


def test_names_that_are_not_utf8_are_digested(tmp_path):
    root = _tree(tmp_path / "src")
    before = tree_state(root)
    name = os.fsdecode(b"caf\xe9.jpg")  # Latin-1 bytes: a surrogate escape in Python
    (root / name).write_bytes(b"")
    assert tree_state(root) != before


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder")
def test_an_unreadable_subfolder_is_part_of_the_state_not_an_error(tmp_path):
    root = _tree(tmp_path / "src")
    before = tree_state(root)
    (root / "images").chmod(0)
    try:
        assert tree_state(root) != before
    finally:
        (root / "images").chmod(0o755)


def test_links_state_says_what_links_lead_to(tmp_path):
    root = _tree(tmp_path / "src")
    cache = tmp_path / "cache"
    cache.mkdir()
    target = cache / "ab12"
    target.write_bytes(b"pixels")
    (root / "images" / "p1" / "c.jpg").symlink_to(target)  # DVC's cache.type: symlink
    (root / "images" / "p1" / "inside.jpg").symlink_to("a.jpg")
    (root / "images" / "p1" / "dangling.jpg").symlink_to(cache / "gone")
    first = links_state(root, scan_tree(root).links)
    assert first is not None and first == links_state(root, scan_tree(root).links)
    # a target outside: its stat is part of it (same size, new content)
    stat = target.stat()
    target.write_bytes(b"PIXELS")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    second = links_state(root, scan_tree(root).links)
    assert second != first
    # a target inside: the tree's own state covers it
    (root / "images" / "p1" / "a.jpg").write_bytes(b"other")
    assert links_state(root, scan_tree(root).links) == second
    # a dangling link that comes to lead somewhere
    (cache / "gone").write_bytes(b"here now")
    assert links_state(root, scan_tree(root).links) != second


def test_a_link_to_a_folder_outside_has_no_links_state(tmp_path):
    root = _tree(tmp_path / "src")
    (tmp_path / "more").mkdir()
    (root / "more").symlink_to(tmp_path / "more", target_is_directory=True)
    assert links_state(root, scan_tree(root).links) is None


def test_a_link_to_a_folder_inside_is_covered_by_the_tree(tmp_path):
    root = _tree(tmp_path / "src")
    (root / "alias").symlink_to("images", target_is_directory=True)
    (root / "up").symlink_to("images/p1/..", target_is_directory=True)
    assert links_state(root, scan_tree(root).links) is not None


def _package(base: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (base / rel).parent.mkdir(parents=True, exist_ok=True)
        (base / rel).write_text(text)


def test_package_digest_changes_with_any_python_file(tmp_path, monkeypatch):
    _package(
        tmp_path,
        {
            "memo_pkg/__init__.py": "",
            "memo_pkg/reader.py": "X = 1\n",
            "memo_pkg/family/__init__.py": "",
            "memo_pkg/family/rows.py": "Y = 2\n",
            "memo_mod.py": "Z = 3\n",
        },
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    first = package_digest("memo_pkg", "memo_mod")
    assert first == package_digest("memo_pkg", "memo_mod")
    assert first != package_digest("memo_pkg") != package_digest("memo_mod")
    # bytecode and other files are not code that could change a result
    (tmp_path / "memo_pkg" / "__pycache__").mkdir()
    (tmp_path / "memo_pkg" / "__pycache__" / "reader.cpython.pyc").write_bytes(b"\0")
    (tmp_path / "memo_pkg" / "notes.txt").write_text("x")
    assert package_digest("memo_pkg", "memo_mod") == first
    for rel in ("memo_pkg/family/rows.py", "memo_mod.py"):
        path = tmp_path / rel
        text = path.read_text()
        path.write_text(text.replace("= ", "=  "))
        assert package_digest("memo_pkg", "memo_mod") != first
        path.write_text(text)
    (tmp_path / "memo_pkg" / "family" / "new.py").write_text("")
    assert package_digest("memo_pkg", "memo_mod") != first
    sys.modules.pop("memo_pkg", None)


def test_package_digest_of_the_readers_and_an_unknown_name():
    digest = package_digest("unimed_kedro.sources", "unimed_kedro.schema")
    assert len(digest) == 64
    with pytest.raises(ModuleNotFoundError):
        package_digest("unimed_kedro.no_such_module")


class _Reversed:
    """`os.scandir` giving a folder's entries in the reverse of the system's order."""

    def __init__(self, scandir, path):
        with scandir(path) as found:
            self.entries = list(found)[::-1]

    def __enter__(self):
        return iter(self.entries)

    def __exit__(self, *exc):
        return False


def test_the_state_does_not_depend_on_the_order_a_folder_is_listed_in(tmp_path, monkeypatch):
    root = _tree(tmp_path / "src")
    for n in range(50):
        (root / "images" / f"x{n:02d}.png").write_bytes(b"x" * n)
    before = scan_tree(root)
    scandir = os.scandir
    monkeypatch.setattr(os, "scandir", lambda path: _Reversed(scandir, path))
    assert scan_tree(root) == before
    os.rename(root / "images" / "x07.png", root / "images" / "p1" / "x07.png")
    assert scan_tree(root).digest != before.digest  # same entry, another folder
