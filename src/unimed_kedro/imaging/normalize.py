"""Per-sample normalisation, run one chunk per task in worker processes.

Each raw file is read once: opened without following a symbolic link (unless the run
allows links), its size checked before it is read, hashed, its header checked before it
is decoded (at reduced size where possible), validated, resized and re-encoded, then
written as one file in the chunk's folder (one file per image, so the files layout can
hard-link it rather than copy it). Only metadata rows travel back to the parent; a bad
file becomes a row with its reason, never an exception. One image never needs more
memory than `max_bytes` plus what `max_pixels` decoded pixels cost.
"""

from __future__ import annotations

import errno
import functools
import hashlib
import io
import json
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import PIL
import pyarrow as pa
from PIL import Image

from unimed_kedro.imaging.decode import Rejected, open_image
from unimed_kedro.imaging.options import FORMATS, NormalizeOptions
from unimed_kedro.imaging.quality import check, check_file_size
from unimed_kedro.imaging.resize import resize_short_side
from unimed_kedro.io.atomic import atomic_dir, write_all
from unimed_kedro.io.readahead import readahead
from unimed_kedro.schema.tables import compacted

__all__ = ["FORMATS", "INDEX_COLUMNS", "NormalizeChunk", "normalize_chunk", "process_one"]

# Failures a broken or hostile file raises inside Pillow's decoders.
DECODE_ERRORS = (
    OSError,
    SyntaxError,
    ValueError,
    EOFError,
    IndexError,
    TypeError,
    Image.DecompressionBombError,
)
# Bump when a change to this package alters output bytes: finished chunks are rebuilt.
OUTPUT_VERSION = 2
INDEX_COLUMNS = (
    "sample_id",
    "status",
    "detail",
    "sha256",
    "raw_bytes",
    "orig_width",
    "orig_height",
    "orig_mode",
    "orig_format",
    "width",
    "height",
    "file",
    "stored_bytes",
    "image_ext",
    "encoding",
)
OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0)  # a FIFO never blocks
NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
READ_BLOCK = 1 << 16  # bytes read at a time past a file's `fstat` size (it is growing)


@dataclass(frozen=True)
class NormalizeChunk:
    """A chunk's records (Arrow columns `sample_id`, `source`, `raw_relpath`), the checked
    normalize options, and each source's folder (raw paths are relative to it; the
    workers' symlink checks start there)."""

    records: pa.Table
    options: NormalizeOptions
    roots: dict[str, str] = field(default_factory=dict)

    def __len__(self) -> int:
        return self.records.num_rows

    def samples(self) -> list[tuple[str, str, str]]:
        """(sample_id, source, absolute raw file) of each sample, in order."""
        return raw_files(self.records, self.roots)

    def __reduce__(self):
        # a chunk's records are a slice of the plan's table: sent alone, not with it
        return NormalizeChunk, (compacted(self.records), self.options, self.roots)


def raw_files(records: pa.Table, roots: dict[str, str]) -> list[tuple[str, str, str]]:
    """(sample_id, source, absolute raw file) of each record."""
    columns = (records[c].to_pylist() for c in ("sample_id", "source", "raw_relpath"))
    return [(s, src, f"{roots[src]}/{rel}") for s, src, rel in zip(*columns)]


def encoding_id(options: NormalizeOptions) -> str:
    """What, besides the raw file, decides a stored image's bytes: this code's output
    version, Pillow (and its libjpeg) and the encoding options (not the validation
    thresholds: they decide which images are kept, not their bytes). Exports fingerprint
    it with the raw sha256, so re-encoded images reach the shards without hashing pixels."""
    text = json.dumps([OUTPUT_VERSION, PIL.__version__, options.encoding()], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(image: Image.Image, options: NormalizeOptions) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=options.encoder[0], quality=options.quality)
    return buffer.getvalue()


# `<_io.BytesIO object at 0x7f...>`, `<_io.BufferedReader name='/abs/x.png'>`: object reprs
# that Pillow and the io module put in their messages.
_REPR = re.compile(r"<[^<>]*(?: at 0x[0-9a-fA-F]+| name=[^<>]*)>")
_ADDRESS = re.compile(r"0x[0-9a-fA-F]{6,}")


def error_text(err: BaseException, name: str) -> str:
    """`Type: message` of an exception, the same on every run and machine: object reprs
    (memory addresses, file objects) become the file's `name`, an `OSError`'s absolute
    path is left out. Every reject detail made from an exception goes through here."""
    if isinstance(err, OSError) and err.filename is not None and err.strerror:
        message = err.strerror
    else:
        message = _ADDRESS.sub("0x?", _REPR.sub(name, str(err)))
    return f"{type(err).__name__}: {message}" if message else type(err).__name__


def process_one(
    raw_file: str, source: str, options: NormalizeOptions, root: str | None = None
) -> tuple[bytes | None, dict]:
    """Returns (encoded bytes or None, metadata row without the sample id). `root`: the
    source folder `raw_file` must stay in when symbolic links are not allowed."""
    limits = options.thresholds(source)
    name = os.path.basename(raw_file)
    data, problem = read_raw(raw_file, limits, root, options.allow_symlinks)
    if data is None:
        return None, problem
    row = {"sha256": hashlib.sha256(data).hexdigest(), "raw_bytes": len(data)}
    try:
        image, original = open_image(
            data, short_side=options.image_size, mode=options.mode_of(source), limits=limits
        )
        image = resize_short_side(image, options.image_size, options.resample)
    except Rejected as rejected:
        return None, {**row, "status": rejected.reason, "detail": rejected.detail}
    except DECODE_ERRORS as err:
        return None, {
            **row,
            "status": "corrupt_image",
            "detail": f"cannot decode {name}: {error_text(err, name)}",
        }
    row.update(original, width=image.width, height=image.height)
    failed = check(image, original, len(data), limits)
    if failed:
        return None, {**row, "status": failed[0], "detail": failed[1]}
    return encode(image, options), {**row, "status": "ok", "detail": None}


def read_raw(
    path: str, limits: dict, root: str | None, allow_symlinks: bool
) -> tuple[bytes | None, dict]:
    """The file's bytes, or None and the reject row: a file gone since ingest, not a
    regular file, reached through a symbolic link leading out of `root` (links are not
    followed unless allowed), or larger than `max_bytes` (checked before reading; at most
    `max_bytes + 1` bytes are ever read)."""
    name = os.path.basename(path)
    outside = f"{name} is reached through a symbolic link leading outside {_folder(root)}"
    try:
        fd = _open_raw(path, root, allow_symlinks)
    except FileNotFoundError:
        return None, _reject("missing_file", f"{name} disappeared after ingest")
    except _Outside:
        return None, _reject("outside_raw_root", outside)
    except OSError as err:
        return None, _reject("missing_file", f"cannot open {name}: {error_text(err, name)}")
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, _reject("missing_file", f"{name} is no longer a regular file")
        if not allow_symlinks and root is not None and not _stays_in(fd, path, root):
            return None, _reject("outside_raw_root", outside)
        if failed := check_file_size(info.st_size, limits):
            return None, {**_reject(*failed), "raw_bytes": info.st_size}
        data = _read_at_most(fd, info.st_size, limits["max_bytes"])
    finally:
        os.close(fd)
    if failed := check_file_size(len(data), limits):  # it grew since the fstat
        return None, _reject(*failed)
    return data, {}


def _folder(root: str | None) -> str:
    return f"{os.path.basename(root.rstrip(os.sep))}/" if root else "its folder"


class _Outside(Exception):
    """The raw file is a symbolic link whose target lies outside its source folder."""


def _open_raw(path: str, root: str | None, allow_symlinks: bool) -> int:
    if allow_symlinks:
        return os.open(path, OPEN_FLAGS)
    try:
        return os.open(path, OPEN_FLAGS | NOFOLLOW)
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise
    # the file itself is a symbolic link: read only one that stays in the source folder
    real = os.path.realpath(path)
    if root is None or not _below(real, _real_root(root)):
        raise _Outside(path)
    return os.open(real, OPEN_FLAGS | NOFOLLOW)


def _stays_in(fd: int, path: str, root: str) -> bool:
    """Whether the opened file lies in `root`, whatever folder on its path was a link:
    asked of the open file itself (`/proc/self/fd`), so a swap after the check is moot."""
    try:
        opened = os.readlink(f"/proc/self/fd/{fd}")
    except OSError:  # no /proc: the path as it resolves now
        opened = os.path.realpath(path)
    return _below(opened, _real_root(root))


@functools.lru_cache(maxsize=64)
def _real_root(root: str) -> str:
    return os.path.realpath(root)


def _below(path: str, root: str) -> bool:
    return path.startswith(root.rstrip(os.sep) + os.sep)


def _read_at_most(fd: int, size: int, limit: int) -> bytes:
    """The file's bytes, one allocation of its `fstat` size in the usual case; past
    `limit` (a file still growing) it stops within a read's length. No read asks for more
    than is left to expect: a buffer of 1 MB or more is a fresh mapping (`allocator.py`),
    and faulting its pages in made the read of a 226 KB film ~4x slower."""
    chunks, total, expected = [], 0, min(size, limit)
    while total <= limit:
        left = expected + 1 - total  # one byte past the end: a short read is the end
        chunk = os.read(fd, left if left > 0 else min(limit + 1 - total, READ_BLOCK))
        if not chunk:
            break
        chunks.append(chunk)
        total += len(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _reject(status: str, detail: str) -> dict:
    return {"status": status, "detail": detail}


def _write(path: str, data: bytes) -> None:
    """Write all of `data` to a new file (`os.write` may write fewer bytes than asked)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        write_all(fd, data)
    finally:
        os.close(fd)


def normalize_chunk(task, out_dir: Path) -> tuple[list[dict], list[str]]:
    """Chunk function for `engine.run_job`: writes folder `<task.key>/` of encoded images,
    `<sample_id>.<ext>` each; the folder appears whole or not at all."""
    chunk: NormalizeChunk = task.payload
    ext = chunk.options.encoder[1]
    encoding = encoding_id(chunk.options)
    samples = chunk.samples()
    readahead((raw for _, _, raw in samples), chunk.options.allow_symlinks)
    rows = []
    with atomic_dir(out_dir / task.key) as folder:
        for sample_id, source, raw_file in samples:
            encoded, row = process_one(raw_file, source, chunk.options, chunk.roots.get(source))
            row["sample_id"] = sample_id
            if encoded is not None:
                name = f"{sample_id}.{ext}"
                _write(f"{folder}/{name}", encoded)
                row.update(
                    file=f"{task.key}/{name}",
                    stored_bytes=len(encoded),
                    image_ext=ext,
                    encoding=encoding,
                )
            rows.append(row)
    return rows, [task.key]
