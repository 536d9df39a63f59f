"""Bounded memory per image: the file size is checked before the file is read, the pixel
count and aspect ratio before any pixel is decoded, each a reject naming its limit."""

from __future__ import annotations

import json
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import encode, radiograph
from unimed_kedro.imaging.normalize import process_one
from unimed_kedro.imaging.options import NormalizeOptions

OPTIONS = NormalizeOptions.from_params(
    {
        "image_size": 128,
        "validation": {"default": {"min_side": 100, "min_bytes": 100, "max_pixels": 40_000_000}},
    }
)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)


def png_bomb(width: int, height: int, *, depth: int, color: int, rows: int | None = None) -> bytes:
    """A PNG whose header declares `width` x `height`; its pixel rows (all zero, so they
    compress to almost nothing) are complete, or only the first `rows` of them."""
    header = struct.pack(">IIBBBBB", width, height, depth, color, 0, 0, 0)
    data = b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", header)
    if color == 3:
        data += _chunk(b"PLTE", b"\x00\x00\x00\xff\xff\xff")
    row = b"\x00" + bytes((width * depth + 7) // 8)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height if rows is None else rows))
    return data + _chunk(b"IDAT", body + packer.flush()) + _chunk(b"IEND", b"")


def _file(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


# Runs one image through `process_one` in a fresh interpreter and reports its peak memory.
PEAK = """
import json, resource, sys, time
from unimed_kedro.imaging.normalize import process_one
from unimed_kedro.imaging.options import NormalizeOptions
options = NormalizeOptions.from_params({"image_size": 512, "validation": {"default": {
    "min_side": 100, "max_pixels": 40_000_000}}})
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.monotonic()
_, row = process_one(sys.argv[1], "s", options)
print(json.dumps({**row, "seconds": time.monotonic() - start,
    "grew_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
"""


def _in_fresh_process(path: str) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", PEAK, path], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


def test_sixteen_bit_header_bomb_is_too_large(tmp_path):
    # 20000 x 20000 16-bit grey: 800 MB once decoded, past twice Pillow's own limit
    path = _file(tmp_path, "bomb.png", png_bomb(20000, 20000, depth=16, color=0, rows=64))
    row = _in_fresh_process(path)
    assert row["status"] == "too_large", row
    assert row["detail"] == "400000000 pixels, expected <= 40000000 pixels (max_pixels)"
    assert row["seconds"] < 2 and row["grew_mb"] < 100, row


def test_huge_palette_png_is_too_large_before_decoding(tmp_path):
    # 12000 x 12000 1-bit palette image, complete: 18 KB on disk, 144 MB once unpacked
    # (288 MB with its grey copy); under twice Pillow's limit, so Pillow would decode it
    path = _file(tmp_path, "palette.png", png_bomb(12000, 12000, depth=1, color=3))
    assert Path(path).stat().st_size < 100_000
    row = _in_fresh_process(path)
    assert row["status"] == "too_large", row
    assert row["detail"] == (
        "12000x12000 px = 144000000 pixels, expected <= 40000000 pixels (max_pixels)"
    )
    assert row["seconds"] < 2 and row["grew_mb"] < 100, row


def test_pixel_limit_is_a_param(tmp_path):
    path = _file(tmp_path, "x.png", encode(radiograph(400, 480), "PNG"))
    assert process_one(path, "s", OPTIONS)[1]["status"] == "ok"
    small = NormalizeOptions.from_params(
        {"image_size": 128, "validation": {"default": {"min_side": 100, "max_pixels": 100_000}}}
    )
    _, row = process_one(path, "s", small)
    assert row["status"] == "too_large"
    assert row["detail"] == "400x480 px = 192000 pixels, expected <= 100000 pixels (max_pixels)"


def test_no_decompression_bomb_warning_between_pillow_limits(tmp_path, recwarn):
    path = _file(tmp_path, "palette.png", png_bomb(12000, 12000, depth=1, color=3, rows=8))
    assert process_one(path, "s", OPTIONS)[1]["status"] == "too_large"
    assert not [w for w in recwarn if "decompression bomb" in str(w.message)]


@pytest.mark.parametrize("size", [(3000, 200), (200, 3000)])
def test_extreme_aspect_ratio_is_its_own_reason(tmp_path, size):
    path = _file(tmp_path, "strip.png", encode(radiograph(*size), "PNG"))
    _, row = process_one(path, "s", OPTIONS)
    assert row["status"] == "extreme_aspect_ratio"
    width, height = size
    assert row["detail"] == (
        f"{width}x{height} px, aspect ratio 15.0:1, expected <= 10:1 (max_aspect_ratio)"
    )
    wide = NormalizeOptions.from_params(
        {"image_size": 128, "validation": {"default": {"min_side": 100, "max_aspect_ratio": 20}}}
    )
    assert process_one(path, "s", wide)[1]["status"] == "ok"


def test_file_size_is_checked_before_reading(tmp_path):
    """Bytes that are no image at all, one byte over `max_bytes`: refused for their size,
    which is all that is looked at, not for failing to decode."""
    limits = {"image_size": 128, "validation": {"default": {"min_side": 100, "max_bytes": 5000}}}
    path = _file(tmp_path, "big.jpg", b"\x00" * 5001)
    _, row = process_one(path, "s", NormalizeOptions.from_params(limits))
    assert row["status"] == "bad_file_size"
    assert row["detail"] == "5001 bytes, expected 0..5000"


def test_oversized_sparse_file_is_never_read(tmp_path):
    path = tmp_path / "sparse.jpg"
    with open(path, "wb") as handle:
        handle.truncate(256 << 20)  # 256 MB of nothing, over the 50 MB default
    start = time.monotonic()
    _, row = process_one(str(path), "s", OPTIONS)
    assert row["status"] == "bad_file_size" and row["raw_bytes"] == 256 << 20
    assert time.monotonic() - start < 1


def test_sixteen_bit_window_matches_float_scaling():
    """The 16-bit lookup table gives the bytes the float32 scaling gave."""
    from PIL import Image

    from unimed_kedro.imaging.decode import _scale, window_to_8bit

    rng = np.random.default_rng(3)
    array = rng.integers(0, 4000, size=(300, 257)).astype(np.uint16)
    out = np.asarray(window_to_8bit(Image.fromarray(array)))
    sample = array[:: 300 // 256, :: 257 // 256]
    low, high = np.percentile(sample, [0.5, 99.5])
    assert np.array_equal(out, _scale(array.astype(np.float32), low, high))
