"""Digests that tell whether something on disk changed since a result was remembered: a
folder tree as `lstat` sees it (`tree_state`, `scan_tree`), what its symbolic links lead
to (`links_state`) and the code of given packages (`package_digest`). Nothing here knows
what the files hold.

A tree's state is taken without opening a file: one listing per folder (`os.scandir`) and
one `lstat` per other entry (by name in its open folder where the folder holds many). It
holds every entry's relative path and, but for folders, type and permissions, size,
modification and change times (`st_ctime_ns` too: no tool can set it back, so an edit that
keeps size and mtime still shows) and a link's target text.
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
from concurrent.futures import Future, ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any, NamedTuple


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

    The digest is the sum of the hashes of every folder entry and of every block of a
    folder's listing (its files' texts, in name order), in whatever order and by
    whichever process they come, so no listing is held whole (a sorted listing of 1M
    files held ~260 MB) and the walk can be shared. Entries are `lstat`ed, and folders
    entered, in name order (a block of entries at a time): on a cold cache, 670k CheXpert
    images took 139 s in name order, 191 s in inode order. The walk is kernel work (~20 µs
    a folder and ~10 µs a file on a 2-vCPU VM), so once `apart_after` entries are seen,
    forked helpers share it, one per core: the folders still to walk, in runs of folders
    in name order (CheXpert, a folder per study: 223k images warm 10.0 → 5.6 s), and the
    entries of a large folder, a block of names at a time (the files layout's folders of
    343k images)."""
    walk = _Walk(ctime)
    with _Helpers(ctime, apart_after) as helpers:
        pending = [(os.fspath(path), "")]
        while pending:
            if helpers.wanted(walk) and len(pending) > 1:
                helpers.walk_apart(pending[::-1])  # the stack holds the first name last
                break
            pending += reversed(walk.folder(*pending.pop(), helpers))  # the first name next
        walk.merge(helpers.results())
    total = walk.sum % _MODULUS
    digest = hashlib.sha256(f"tree-sum-v2\0{walk.files}\0{total:032x}".encode()).hexdigest()
    return TreeState(digest, walk.files, tuple(sorted(walk.links)))


_MODULUS = 1 << 128  # entry hashes are 128-bit: two trees collide with odds of ~2⁻¹²⁸
_BLOCK = 16384  # entries sorted at once (~4 MB)
_FOLDER = os.O_RDONLY | os.O_DIRECTORY | getattr(os, "O_CLOEXEC", 0)
_BY_NAME = 8  # files of one folder from which they are looked up in the open folder

Gathered = tuple[int, int, int, list]  # sum, files, entries, links


class _Walk:
    """What `scan_tree` gathers: the sum of the hashes, how many entries were seen and
    how many are not folders, the links found. A folder entry is hashed alone as
    `path/\0d\0`; a block's files as one text, `folder\0files\0` then each file's
    `path\0mode\0size\0mtime\0ctime\0target\0` or `path\0!errno\0`; an error
    listing a folder as `folder\0!errno\0`. No name holds a NUL or a slash, so no two
    of these give the same text."""

    def __init__(self, ctime: bool) -> None:
        self.ctime = ctime
        self.sum = self.files = self.entries = 0
        self.links: list[tuple[str, str]] = []

    def folder(
        self, folder: str, prefix: str, helpers: _Helpers | None = None
    ) -> list[tuple[str, str]]:
        """Add the entries of `folder` (relative names start with `prefix`); return its
        subfolders, by name. A block after the first goes to the `helpers` once they are
        wanted (its names: the folders among them are taken here)."""
        folders: list[tuple[str, str]] = []
        try:
            with os.scandir(folder) as found:
                for i, block in enumerate(iter(lambda: list(islice(found, _BLOCK)), [])):
                    self.entries += len(block)
                    names = self._files_of(block, folder, prefix, folders)
                    if i == 0 or helpers is None or not helpers.wanted(self):
                        self._files(folder, prefix, names)
                    else:
                        helpers.lstat(folder, prefix, names)
        except OSError as error:  # the reader meets the same error
            self._add(f"{prefix}\0!{error.errno}\0")
        return sorted(folders)

    def walk(self, folders: list[tuple[str, str]]) -> Gathered:
        """Walk `folders` (name order) and everything under them; what was gathered."""
        pending = folders[::-1]
        while pending:
            pending += reversed(self.folder(*pending.pop()))
        return self.gathered()

    def named(self, folder: str, prefix: str, names: list[str]) -> Gathered:
        """Add the files `names` of `folder` (a block of its listing, the folders left
        out); what was gathered."""
        self._files(folder, prefix, names)
        return self.gathered()

    def gathered(self) -> Gathered:
        return self.sum, self.files, self.entries, self.links

    def merge(self, parts: Iterable[Gathered]) -> None:
        for total, files, entries, links in parts:
            self.sum += total
            self.files += files
            self.entries += entries
            self.links += links

    def _add(self, line: str) -> None:
        digest = hashlib.blake2b(os.fsencode(line), digest_size=16).digest()
        self.sum += int.from_bytes(digest, "little")

    def _files_of(
        self, block: list, folder: str, prefix: str, folders: list[tuple[str, str]]
    ) -> list[str]:
        """The names of the block's entries that are not folders; the folders are added
        (their type is the listing's: no call) and kept to be entered."""
        names = []
        for entry in block:
            if entry.is_dir(follow_symlinks=False):
                folders.append((os.path.join(folder, entry.name), f"{prefix}{entry.name}/"))
                self._add(f"{prefix}{entry.name}/\0d\0")
            else:
                names.append(entry.name)
        return names

    def _files(self, folder: str, prefix: str, names: list[str]) -> None:
        """Add the files `names` of `folder`, `lstat`ed in name order (cold, 670k CheXpert
        images took 139 s so, 191 s in inode order) and hashed as one text (a hash per
        file cost more than its `lstat`). Many are looked up by name in the open folder
        (`dir_fd`), not by whole path: the store's 348k files 2.9 → 1.7 s; a folder of a
        few files is not opened for it (CheXpert's 187k study folders)."""
        if not names:
            return
        try:
            fd = os.open(folder, _FOLDER) if len(names) >= _BY_NAME else None
        except OSError as error:  # gone since it was listed
            self._add(f"{prefix}\0!{error.errno}\0" + "/".join(names))
            return
        base = "" if fd is not None else folder + os.sep
        try:
            lines = [self._file(base + name, prefix + name, fd) for name in sorted(names)]
        finally:
            if fd is not None:
                os.close(fd)
        self._add(f"{prefix}\0files\0" + "".join(lines))

    def _file(self, path: str, rel: str, folder: int | None) -> str:
        try:
            st = os.lstat(path, dir_fd=folder)
            target = os.readlink(path, dir_fd=folder) if stat.S_ISLNK(st.st_mode) else ""
        except OSError as error:  # gone since the listing, or a folder we may not enter
            return f"{rel}\0!{error.errno}\0"
        self.files += 1
        if target:
            self.links.append((rel, target))
        changed = st.st_ctime_ns if self.ctime else ""
        return f"{rel}\0{st.st_mode}\0{st.st_size}\0{st.st_mtime_ns}\0{changed}\0{target}\0"


class _Helpers:
    """Forked processes that share a walk, one per core, started at first use (a small
    tree never forks) and gone when the walk ends. Forked, not started afresh: a helper
    needs nothing but this module, and starts in milliseconds."""

    def __init__(self, ctime: bool, after: int) -> None:
        self.ctime, self.after = ctime, after
        self.cores = _cores()
        self._pool: ProcessPoolExecutor | None = None
        self._futures: list[Future] = []

    def __enter__(self) -> _Helpers:
        return self

    def __exit__(self, *_: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)

    def wanted(self, walk: _Walk) -> bool:
        """Whether the walk is large enough to share (`after` entries seen)."""
        return self.cores > 1 and walk.entries >= self.after

    def walk_apart(self, folders: list[tuple[str, str]]) -> None:
        """`folders` (name order) and what is under them, in contiguous runs, four a
        helper (subtrees differ in size)."""
        runs = min(len(folders), 4 * self.cores)
        for i in range(runs):
            run = folders[i * len(folders) // runs : (i + 1) * len(folders) // runs]
            self._submit(_walk_run, run, self.ctime)

    def lstat(self, folder: str, prefix: str, names: list[str]) -> None:
        self._submit(_named_run, folder, prefix, names, self.ctime)

    def results(self) -> list[Gathered]:
        return [future.result() for future in self._futures]

    def _submit(self, *task: Any) -> None:
        if self._pool is None:
            context = multiprocessing.get_context("fork")
            self._pool = ProcessPoolExecutor(
                self.cores, mp_context=context, initializer=_die_with, initargs=(os.getpid(),)
            )
        self._futures.append(self._pool.submit(*task))


def _cores() -> int:
    """Processes a walk may use: the cores this process may run on, where it can fork."""
    if "fork" not in multiprocessing.get_all_start_methods():
        return 1
    return min(8, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1)


def _walk_run(folders: list[tuple[str, str]], ctime: bool) -> Gathered:
    return _Walk(ctime).walk(folders)


def _named_run(folder: str, prefix: str, names: list[str], ctime: bool) -> Gathered:
    return _Walk(ctime).named(folder, prefix, names)


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
