"""Digests that tell whether something on disk changed since a result was remembered: a
folder tree as `lstat` sees it (`tree_state`, `scan_tree`), what its symbolic links lead
to (`links_state`) and the code of given packages (`package_digest`). Nothing here knows what the files hold.

A tree's state is taken without opening a file: one listing per folder (`os.scandir`) and
one `lstat` per other entry. It holds every entry's relative path and, but for folders,
type and permissions, size, modification and change times (`st_ctime_ns` too: no tool can
set it back, so an edit that keeps size and mtime still shows) and a link's target text.
Links are not followed: a link to `/` costs one entry, not a walk of the machine;
`links_state` says what they lead to.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import multiprocessing
import os
import signal
import stat
import sys
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import NamedTuple


class TreeState(NamedTuple):
    """`digest`: everything under the folder as `lstat` sees it; `files`: how many entries
    that are not folders it holds; `links`: (relative path, target text) of its symbolic
    links."""

    digest: str
    files: int
    links: tuple[tuple[str, str], ...]


def tree_state(path: str | os.PathLike[str]) -> str:
    """The digest of everything under folder `path`, links not followed (`scan_tree`)."""
    return scan_tree(path).digest


def scan_tree(
    path: str | os.PathLike[str], ctime: bool = True, *, apart_after: int = 20_000
) -> TreeState:
    """Walk the folder `path` (the folder itself may be a link: it is what is read) and
    digest every entry: a folder by its relative path, anything else by its relative
    path, `st_mode`, size, `st_mtime_ns`, `st_ctime_ns` and, for a link, its target text.
    A folder is not `lstat`ed: its times change only when its listing does, which its
    entries show. What cannot be listed or `lstat`ed is recorded with its error, so it
    changes the state and never stops it. `ctime=False` leaves change times out: for a
    tree we wrote, whose files gain hard links (the files layout links the image
    store's), which changes their `st_ctime` and nothing else.

    The digest is a sum over blocks of a folder's entries (up to 16,384 as listed, sorted
    and hashed as one), so no listing is held whole (a sorted listing of 1M files held
    ~260 MB) and parts of the tree can be walked apart; a bigger folder listed in another
    order (a copy of it) gives another digest, which costs a recomputation, no more.
    Entries are `lstat`ed, and folders entered, in name order: on a cold cache, 670k
    CheXpert images took 139 s in name order, 191 s in inode order. The walk is kernel
    work (~20 µs a folder on this VM, CheXpert having a folder per study), so once
    `apart_after` entries are seen, the folders still to walk are split, in name order,
    between forked processes, one per core (223k CheXpert images warm: 10 s → 5 s)."""
    walk = _Walk(ctime)
    pending = [(os.fspath(path), "")]
    while pending:
        if walk.entries >= apart_after and len(pending) > 1 and _cores() > 1:
            walk.merge(_walk_apart(pending[::-1], ctime))  # the stack holds the first name last
            break
        pending += reversed(walk.folder(*pending.pop()))  # the first name next
    total = walk.sum % _MODULUS
    digest = hashlib.sha256(f"tree-sum-v2\0{walk.files}\0{total:032x}".encode()).hexdigest()
    return TreeState(digest, walk.files, tuple(sorted(walk.links)))


_MODULUS = 1 << 128  # block hashes are 128-bit: two trees collide with odds of ~2⁻¹²⁸
_BLOCK = 16384  # entries sorted at once (~4 MB)


class _Walk:
    """What `scan_tree` gathers: the sum of the blocks' hashes, how many entries were seen
    and how many are not folders, the links found. An entry is `path/\0d\0` (a folder),
    `path\0mode\0size\0mtime\0ctime\0target\0` or `path\0!errno\0`: no name holds a
    NUL or a slash, so no two entries give the same text, nor two blocks."""

    def __init__(self, ctime: bool) -> None:
        self.ctime = ctime
        self.sum = self.files = self.entries = 0
        self.links: list[tuple[str, str]] = []

    def folder(self, folder: str, prefix: str) -> list[tuple[str, str]]:
        """Add the entries of `folder` (relative names start with `prefix`); return its
        subfolders, by name."""
        folders: list[tuple[str, str]] = []
        try:
            with os.scandir(folder) as found:
                while block := list(islice(found, _BLOCK)):
                    self.entries += len(block)
                    self._add(sorted(self._line(e, prefix + e.name, folders) for e in block))
        except OSError as error:  # the reader meets the same error
            self._add([f"{prefix}\0!{error.errno}\0"])
        return sorted(folders)

    def walk(self, folders: list[tuple[str, str]]) -> tuple[int, int, int, list]:
        """Walk `folders` (name order) and everything under them; what was gathered."""
        pending = folders[::-1]
        while pending:
            pending += reversed(self.folder(*pending.pop()))
        return self.sum, self.files, self.entries, self.links

    def merge(self, parts: Iterable[tuple[int, int, int, list]]) -> None:
        for total, files, entries, links in parts:
            self.sum, self.files, self.entries = (
                self.sum + total,
                self.files + files,
                self.entries + entries,
            )
            self.links += links

    def _add(self, lines: list[str]) -> None:
        digest = hashlib.blake2b(os.fsencode("".join(lines)), digest_size=16).digest()
        self.sum += int.from_bytes(digest, "little")

    def _line(self, entry: os.DirEntry, rel: str, folders: list[tuple[str, str]]) -> str:
        try:
            if entry.is_dir(follow_symlinks=False):  # the type the listing gave: no call
                folders.append((entry.path, rel + "/"))
                return f"{rel}/\0d\0"
            st = entry.stat(follow_symlinks=False)
            target = os.readlink(entry.path) if stat.S_ISLNK(st.st_mode) else ""
        except OSError as error:  # gone since the listing, or a folder we may not enter
            return f"{rel}\0!{error.errno}\0"
        self.files += 1
        if target:
            self.links.append((rel, target))
        changed = st.st_ctime_ns if self.ctime else ""
        return f"{rel}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{changed}\0{target}\0"


def _cores() -> int:
    """Processes a walk may use: the cores this process may run on, where it can fork."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _walk_apart(folders: list[tuple[str, str]], ctime: bool) -> list[tuple[int, int, int, list]]:
    """`folders` (name order) and what is under them, walked by forked processes in
    contiguous runs, four runs a process (subtrees differ in size). Forked, not started
    afresh: a worker needs nothing but this module, and starts in milliseconds."""
    cores = _cores()
    runs = min(len(folders), 4 * cores)
    chunks = [
        folders[i * len(folders) // runs : (i + 1) * len(folders) // runs] for i in range(runs)
    ]
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(
        cores, mp_context=context, initializer=_die_with, initargs=(os.getpid(),)
    ) as pool:
        return list(pool.map(_walk_run, chunks, [ctime] * runs))


def _walk_run(folders: list[tuple[str, str]], ctime: bool) -> tuple[int, int, int, list]:
    return _Walk(ctime).walk(folders)


_PR_SET_PDEATHSIG = 1  # linux/prctl.h


def _die_with(parent: int) -> None:
    """A walker ends when the process it walks for does, however that one ends."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != parent:  # it ended before the call above
        os._exit(1)


def links_state(root: str | os.PathLike[str], links: Iterable[tuple[str, str]]) -> str | None:
    """What the links `scan_tree` found under `root` lead to, as a reader that follows them
    sees it: each link's resolved path and, when that is outside `root` (whose own state
    covers what is inside), the target's `stat` (mode, size, times) or that it is missing.
    None when a link leads to a folder outside `root`: what that holds was never walked,
    so no state vouches for it."""
    real_root = os.path.realpath(root)
    folders: dict[str, str] = {}  # a target's folder -> its resolved path
    parts = []
    for path, target in links:
        link = os.path.join(root, path)
        resolved = _resolve(os.path.join(os.path.dirname(link), target), folders)
        if resolved == real_root or resolved.startswith(real_root.rstrip(os.sep) + os.sep):
            parts.append(f"{path}\0{resolved}\0")
            continue
        try:
            st = os.stat(resolved)
        except OSError as error:  # dangling, a loop, no permission: the reader sees that
            parts.append(f"{path}\0{resolved}\0!{error.errno}\0")
            continue
        if stat.S_ISDIR(st.st_mode):
            return None
        parts.append(
            f"{path}\0{resolved}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}\0"
        )
    return hashlib.sha256(os.fsencode("".join(parts))).hexdigest()


def _resolve(target: str, folders: dict[str, str]) -> str:
    """`os.path.realpath(target)`, its folder resolved once per distinct folder: a tree of
    links into a content-addressed cache (DVC's `cache.type: symlink`) has ~256 of them."""
    folder, name = os.path.split(target)
    if name in ("", ".", ".."):  # a name that is not a file of `folder`
        return os.path.realpath(target)
    real = folders.get(folder)
    if real is None:
        real = folders[folder] = os.path.realpath(folder)
    resolved = os.path.join(real, name)
    return os.path.realpath(resolved) if os.path.islink(resolved) else resolved


def package_digest(*module_names: str) -> str:
    """The digest of the bytes of every `.py` file of the given packages or modules (found
    with `importlib.util.find_spec`), in sorted relative paths: a change of the code that
    made a remembered result invalidates it."""
    digest = hashlib.sha256()
    for name in module_names:
        spec = importlib.util.find_spec(name)
        if spec is None or (spec.origin is None and not spec.submodule_search_locations):
            raise ModuleNotFoundError(f"no module named {name!r}")
        for base, rel in _python_files(spec.origin, spec.submodule_search_locations):
            data = (base / rel).read_bytes()
            digest.update(os.fsencode(f"{name}\0{rel.as_posix()}\0{len(data)}\0"))
            digest.update(data)
    return digest.hexdigest()


def _python_files(origin: str | None, locations: Iterable[str] | None) -> list[tuple[Path, Path]]:
    """(folder, relative path) of a package's `.py` files, sorted; a module's own file."""
    if not locations:
        file = Path(origin or "")
        return [(file.parent, Path(file.name))]
    found = []
    for location in locations:
        base = Path(location)
        found += [(base, p.relative_to(base)) for p in base.rglob("*.py")]
    return sorted(found, key=lambda item: item[1].as_posix())
