import io

import numpy as np
import pytest
from PIL import Image

from tests.conftest import encode, radiograph
from unimed_kedro.imaging.decode import open_image
from unimed_kedro.imaging.normalize import process_one as _process_one
from unimed_kedro.imaging.options import NormalizeOptions
from unimed_kedro.imaging.resize import resize_short_side, target_size

OPTIONS = {
    "image_size": 128,
    "quality": 90,
    "format": "jpeg",
    "color_mode": "L",
    "validation": {"default": {"min_side": 100, "min_bytes": 100}},
}


def process_one(path: str, source: str, options: dict):
    return _process_one(path, source, NormalizeOptions.from_params(options))


def _write(tmp_path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def _decoded(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.mark.parametrize(
    "size,short,expected",
    [((400, 480), 128, (128, 154)), ((480, 400), 128, (154, 128)), ((100, 90), 128, (100, 90))],
)
def test_target_size_never_upscales(size, short, expected):
    assert target_size(size, short) == expected


def test_resize_uses_exact_target():
    image = Image.fromarray(radiograph(1024, 1200))
    assert resize_short_side(image, 512).size == (512, 600)
    assert resize_short_side(image, 300).size == (300, 352)


def test_jpeg_is_decoded_at_reduced_size():
    data = encode(radiograph(1024, 1024), quality=90)
    image, original = open_image(data, short_side=256, mode="L")
    assert (original["orig_width"], original["orig_height"]) == (1024, 1024)
    assert image.size == (256, 256)  # DCT scaling did the 4x reduction


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "I;16"])
def test_any_mode_becomes_8bit_gray(tmp_path, mode):
    array = radiograph(300, 360)
    if mode == "RGB":
        image = Image.fromarray(np.stack([array] * 3, axis=-1))
    elif mode == "P":
        image = Image.fromarray(array).convert("P")
    elif mode == "I;16":
        image = Image.fromarray(array.astype(np.uint16) * 13 + 300)
    else:
        image = Image.fromarray(array)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    encoded, row = process_one(_write(tmp_path, "x.png", buffer.getvalue()), "s", OPTIONS)
    assert row["status"] == "ok", row
    out = _decoded(encoded)
    assert out.format == "JPEG" and out.mode == "L" and min(out.size) == 128
    assert row["orig_mode"] == mode and (row["width"], row["height"]) == out.size
    assert np.asarray(out).std() > 20  # 16-bit input was windowed, not clipped flat


def test_sixteen_bit_window_uses_full_range():
    array = radiograph(200, 200).astype(np.uint16) * 4 + 1000
    image, _ = open_image(encode(array.astype(np.uint16), "PNG"), short_side=512, mode="L")
    values = np.asarray(image)
    assert values.min() <= 5 and values.max() >= 250


@pytest.mark.parametrize(
    "name,data,reason",
    [
        ("bad.jpg", b"\xff\xd8\xff\xe0 not really a jpeg", "corrupt_image"),
        ("trunc.jpg", encode(radiograph())[:2000], "corrupt_image"),
        ("tiny.jpg", encode(radiograph(64, 64)), "too_small"),
        ("flat.png", encode(np.full((300, 300), 128, np.uint8), "PNG"), "low_contrast"),
    ],
)
def test_bad_images_become_reasons(tmp_path, name, data, reason):
    encoded, row = process_one(_write(tmp_path, name, data), "s", OPTIONS)
    assert encoded is None and row["status"] == reason
    assert row["detail"]


def test_file_size_bounds(tmp_path):
    options = {**OPTIONS, "validation": {"default": {"min_side": 100, "min_bytes": 10**7}}}
    _, row = process_one(_write(tmp_path, "x.jpg", encode(radiograph())), "s", options)
    assert row["status"] == "bad_file_size" and "expected 10000000" in row["detail"]


def test_per_source_thresholds_override_default(tmp_path):
    options = {
        **OPTIONS,
        "validation": {"default": {"min_side": 100}, "per_source": {"nih": {"min_side": 1000}}},
    }
    path = _write(tmp_path, "x.jpg", encode(radiograph()))
    assert process_one(path, "chexpert", options)[1]["status"] == "ok"
    assert process_one(path, "nih", options)[1]["status"] == "too_small"


def test_sha256_is_of_raw_bytes(tmp_path):
    import hashlib

    data = encode(radiograph())
    _, row = process_one(_write(tmp_path, "x.jpg", data), "s", OPTIONS)
    assert row["sha256"] == hashlib.sha256(data).hexdigest() and row["raw_bytes"] == len(data)
