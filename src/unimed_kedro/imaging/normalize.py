"""Per-sample normalisation, run one chunk per task in worker processes.

Each raw file is read once: hashed, decoded (at reduced size where possible), validated,
resized and re-encoded, then written as one file in the chunk's folder (one file per image,
so the files layout can hard-link it rather than copy it). Only metadata rows travel back
to the parent; a bad file becomes a row with its reason, never an exception.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from dataclasses import dataclass
from pathlib import Path

import PIL
from PIL import Image

from unimed_kedro.imaging import quality
from unimed_kedro.imaging.decode import open_image
from unimed_kedro.imaging.resize import resize_short_side
from unimed_kedro.io.atomic import atomic_dir
from unimed_kedro.io.readahead import readahead

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
FORMATS = {"jpeg": ("JPEG", "jpg"), "webp": ("WEBP", "webp"), "png": ("PNG", "png")}


@dataclass(frozen=True)
class NormalizeChunk:
    """(sample_id, source, raw_file) triples and the normalize params."""

    samples: list[tuple[str, str, str]]
    options: dict

    def __len__(self) -> int:
        return len(self.samples)


def encoding_id(options: dict) -> str:
    """What, besides the raw file, decides a stored image's bytes: this code's output
    version, Pillow (and its libjpeg) and the normalize options. Exports fingerprint it with
    the raw sha256, so re-encoded images reach the shards without hashing any pixels."""
    text = json.dumps([OUTPUT_VERSION, PIL.__version__, options], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encode(image: Image.Image, options: dict) -> bytes:
    fmt, _ = FORMATS[options.get("format", "jpeg")]
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, quality=int(options.get("quality", 95)))
    return buffer.getvalue()


def process_one(raw_file: str, source: str, options: dict) -> tuple[bytes | None, dict]:
    """Returns (encoded bytes or None, metadata row without the sample id)."""
    try:
        data = Path(raw_file).read_bytes()
    except FileNotFoundError:
        return None, {
            "status": "missing_file",
            "detail": f"{Path(raw_file).name} disappeared after ingest",
        }
    row = {"sha256": hashlib.sha256(data).hexdigest(), "raw_bytes": len(data)}
    try:
        image, original = open_image(
            data, short_side=options["image_size"], mode=options.get("color_mode", "L")
        )
        image = resize_short_side(image, options["image_size"], options.get("resample", "lanczos"))
    except DECODE_ERRORS as err:
        return None, {
            **row,
            "status": "corrupt_image",
            "detail": f"cannot decode {Path(raw_file).name}: {type(err).__name__}: {err}",
        }
    row.update(original, width=image.width, height=image.height)
    failed = quality.check(
        image, original, len(data), quality.thresholds(options.get("validation", {}), source)
    )
    if failed:
        return None, {**row, "status": failed[0], "detail": failed[1]}
    return encode(image, options), {**row, "status": "ok", "detail": None}


def _write(path: str, data: bytes) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)


def normalize_chunk(task, out_dir: Path) -> tuple[list[dict], list[str]]:
    """Chunk function for `engine.run_job`: writes folder `<task.key>/` of encoded images,
    `<sample_id>.<ext>` each; the folder appears whole or not at all."""
    chunk: NormalizeChunk = task.payload
    _, ext = FORMATS[chunk.options.get("format", "jpeg")]
    encoding = encoding_id(chunk.options)
    readahead(raw_file for _, _, raw_file in chunk.samples)
    rows = []
    with atomic_dir(out_dir / task.key) as folder:
        for sample_id, source, raw_file in chunk.samples:
            encoded, row = process_one(raw_file, source, chunk.options)
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
