"""Every bad file becomes a row with its reason and a message naming the file, never an
exception, and a rejected item writes nothing."""

from __future__ import annotations

import gzip
import itertools
import os
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest

from tests.volumes import affine, make_item, run, save_nifti
from unimed_kedro.volumes.options import VolumeOptions
from unimed_kedro.volumes.process import REJECT_REASONS, check_item

SHAPE = (10, 9, 8)
RUNS = itertools.count()


@pytest.fixture
def files(tmp_path) -> dict[str, Path]:
    """A good CT and label map (values 1, 2), and what a test breaks."""
    rng = np.random.default_rng(0)
    seg = np.zeros(SHAPE, dtype=np.uint8)
    seg[1:4, 1:4, 1:4], seg[5:8, 5:8, 4:7] = 1, 2
    return {
        "image": save_nifti(
            tmp_path / "ct.nii.gz", rng.integers(-900, 900, SHAPE).astype(np.int16), affine()
        ),
        "mask": save_nifti(tmp_path / "seg.nii.gz", seg, affine()),
        "tmp": tmp_path,
    }


def _one(files, item, options=None, **chunk) -> dict:
    out = files["tmp"] / f"out-{next(RUNS)}"
    (row,) = run([item], out, options, **chunk)
    if row["status"] != "ok":  # nothing written, nothing half-written
        assert not out.exists() or not [f for _, _, fs in os.walk(out) for f in fs]
        assert row["renorm_image"] is None and row["renorm_segmentation_dir"] is None
        assert row["status"] in REJECT_REASONS
    return row


def _expect(row: dict, status: str, *words: str) -> None:
    assert row["status"] == status, row
    assert all(word in row["detail"] for word in words), row["detail"]


def test_good_files_pass(files):
    assert _one(files, make_item(files["image"], files["mask"]))["status"] == "ok"


def test_missing_and_unreadable_images(files):
    tmp = files["tmp"]
    _expect(
        _one(files, make_item(tmp / "nope.nii.gz", files["mask"])), "missing_image", "nope.nii.gz"
    )
    whole = files["image"].read_bytes()
    (tmp / "cut.nii.gz").write_bytes(whole[: len(whole) // 2])
    row = _one(files, make_item(tmp / "cut.nii.gz", files["mask"]))
    _expect(row, "unreadable_image", "cut.nii.gz", "truncated")
    (tmp / "junk.nii.gz").write_bytes(os.urandom(5000))
    _expect(
        _one(files, make_item(tmp / "junk.nii.gz", files["mask"])),
        "unreadable_image",
        "junk.nii.gz",
    )
    (tmp / "text.nii").write_bytes(b"not an image at all" * 40)
    _expect(_one(files, make_item(tmp / "text.nii", files["mask"])), "unreadable_image", "text.nii")
    (tmp / "junk.nrrd").write_bytes(
        b"NRRD0004\ntype: short\ndimension: 3\nsizes: 9 9 9\nencoding: raw\n\n"
    )
    row = _one(files, make_item(tmp / "junk.nrrd", files["mask"]))
    _expect(row, "unreadable_image", "junk.nrrd", "SimpleITK: ", "endian")
    assert str(tmp) not in row["detail"] and ".cxx" not in row["detail"]  # no machine's paths
    (tmp / "scan.png").write_bytes(b"\x89PNG")
    _expect(
        _one(files, make_item(tmp / "scan.png", files["mask"])),
        "unreadable_image",
        "unknown format",
    )
    # a corrupted gzip stream (its check sum no longer matches)
    raw = bytearray(gzip.compress(gzip.decompress(whole), compresslevel=0))
    raw[len(raw) // 2] ^= 0xFF
    (tmp / "flip.nii.gz").write_bytes(bytes(raw))
    _expect(
        _one(files, make_item(tmp / "flip.nii.gz", files["mask"])),
        "unreadable_image",
        "flip.nii.gz",
    )


def test_mask_problems(files):
    tmp, image = files["tmp"], files["image"]
    _expect(_one(files, make_item(image, tmp / "gone.nii.gz")), "missing_mask", "gone.nii.gz")
    _expect(_one(files, make_item(image, None)), "missing_mask")
    (tmp / "bad.nii.gz").write_bytes(b"\x1f\x8b" + os.urandom(300))
    _expect(_one(files, make_item(image, tmp / "bad.nii.gz")), "unreadable_mask", "bad.nii.gz")
    small = save_nifti(tmp / "small.nii.gz", np.ones((10, 9, 7), dtype=np.uint8), affine())
    _expect(
        _one(files, make_item(image, small)),
        "shape_mismatch",
        "small.nii.gz",
        "[10, 9, 7]",
        "[10, 9, 8]",
    )
    seg = np.ones(SHAPE, dtype=np.uint8)
    moved = save_nifti(tmp / "moved.nii.gz", seg, affine(origin=(0.0, 0.0, 1.0)))
    _expect(_one(files, make_item(image, moved)), "affine_mismatch", "moved.nii.gz", "1 mm")
    close = save_nifti(tmp / "close.nii.gz", seg, affine(origin=(0.0, 0.0, 0.005)))
    assert _one(files, make_item(image, close))["status"] == "ok"  # within 0.01 mm


def test_undeclared_values_are_named(files):
    seg = np.zeros(SHAPE, dtype=np.uint8)
    seg[1:3, 1:3, 1:3], seg[4, 4, 4], seg[6, 6, 6] = 1, 7, 9
    mask = save_nifti(files["tmp"] / "extra.nii.gz", seg, affine())
    row = _one(files, make_item(files["image"], mask))
    _expect(row, "undeclared_mask_value", "extra.nii.gz", "values 7, 9", "declared: 1, 2")
    # a declared value no label uses is allowed (background for the labels)
    item = make_item(
        files["image"], mask, declared=("1", "7", "9"), labels=("one",), parts=(("1",),)
    )
    assert _one(files, item)["status"] == "ok"


def test_float_label_map_values(files):
    seg = np.zeros(SHAPE, dtype=np.float32)
    seg[1:3, 1:3, 1:3], seg[5, 5, 5] = 1.0, 2.5
    mask = save_nifti(files["tmp"] / "float.nii.gz", seg, affine())
    _expect(_one(files, make_item(files["image"], mask)), "undeclared_mask_value", "2.5")
    seg[5, 5, 5] = 2.0
    mask = save_nifti(files["tmp"] / "float.nii.gz", seg, affine())
    assert _one(files, make_item(files["image"], mask))["status"] == "ok"


def test_empty_mask(files):
    empty = save_nifti(files["tmp"] / "empty.nii.gz", np.zeros(SHAPE, dtype=np.uint8), affine())
    _expect(_one(files, make_item(files["image"], empty)), "empty_mask", "empty.nii.gz")


def test_label_files_missing_unreadable_or_empty(files):
    tmp, image = files["tmp"], files["image"]
    folder = tmp / "segmentations"
    folder.mkdir()
    structure = np.zeros(SHAPE, dtype=np.uint8)
    structure[2:5, 2:5, 2:5] = 1
    save_nifti(folder / "spleen.nii.gz", structure, affine())

    def item(*declared: str, mask: Path = folder):
        parts = tuple((name,) for name in declared)
        return make_item(
            image, mask, mask_kind="files", declared=declared, labels=declared, parts=parts
        )

    assert _one(files, item("spleen.nii.gz"))["status"] == "ok"
    row = _one(files, item("spleen.nii.gz", "liver.nii.gz"))
    _expect(row, "missing_label_file", "liver.nii.gz", "segmentations/")
    _expect(_one(files, item("spleen.nii.gz", mask=tmp / "nothing")), "missing_mask", "nothing/")
    (folder / "liver.nii.gz").write_bytes(b"garbage")
    _expect(
        _one(files, item("spleen.nii.gz", "liver.nii.gz")),
        "unreadable_mask",
        "segmentations/liver.nii.gz",
    )
    save_nifti(folder / "liver.nii.gz", np.zeros(SHAPE, dtype=np.uint8), affine())
    assert _one(files, item("spleen.nii.gz", "liver.nii.gz"))["status"] == "ok"
    _expect(_one(files, item("liver.nii.gz")), "empty_mask", "segmentations/")
    save_nifti(folder / "tall.nii.gz", np.ones((10, 9, 9), dtype=np.uint8), affine())
    _expect(
        _one(files, item("spleen.nii.gz", "tall.nii.gz")),
        "shape_mismatch",
        "segmentations/tall.nii.gz",
    )


def test_channel_out_of_range(files):
    tmp = files["tmp"]
    four = save_nifti(tmp / "mr.nii.gz", np.zeros((*SHAPE, 2), dtype=np.int16), affine())
    _expect(
        _one(files, make_item(four, files["mask"], channel_index=2)),
        "channel_out_of_range",
        "mr.nii.gz",
        "0 to 1",
    )
    _expect(_one(files, make_item(four, files["mask"])), "channel_out_of_range", "2 channels")
    _expect(
        _one(files, make_item(files["image"], files["mask"], channel_index=1)),
        "channel_out_of_range",
    )
    assert _one(files, make_item(files["image"], files["mask"], channel_index=0))["status"] == "ok"


def test_too_large_before_reading(files):
    row = _one(files, make_item(files["image"], files["mask"]), VolumeOptions(max_voxels=500))
    _expect(row, "too_large", "ct.nii.gz", "720 voxels", "max_voxels")
    row = _one(files, make_item(files["image"], files["mask"]), VolumeOptions(max_bytes=100))
    _expect(row, "too_large", "ct.nii.gz", "max_bytes")
    # a header claiming 2**60 voxels (the file holds a handful): refused from the header
    header = nib.Nifti2Header()
    header.set_data_shape((2**20, 2**20, 2**20))
    header.set_data_dtype(np.int16)
    header["vox_offset"] = 544
    (files["tmp"] / "huge.nii").write_bytes(header.binaryblock + b"\0" * 4 + b"\0" * 64)
    row = _one(files, make_item(files["tmp"] / "huge.nii", files["mask"]))
    _expect(row, "too_large", "huge.nii", f"{2**60} voxels")


def test_symbolic_links(files):
    tmp = files["tmp"]
    root = tmp / "raw"
    (root / "a").mkdir(parents=True)
    os.replace(files["image"], root / "a" / "ct.nii.gz")
    os.replace(files["mask"], root / "a" / "seg.nii.gz")
    (root / "a" / "link.nii.gz").symlink_to(root / "a" / "ct.nii.gz")
    outside = tmp / "outside"
    outside.mkdir()
    (outside / "ct.nii.gz").write_bytes((root / "a" / "ct.nii.gz").read_bytes())
    (root / "b").symlink_to(outside)
    linked = make_item(root / "a" / "link.nii.gz", root / "a" / "seg.nii.gz")
    _expect(_one(files, linked), "outside_raw_root", "link.nii.gz")
    assert _one(files, linked, allow_symlinks=True)["status"] == "ok"
    # with the raw root known, a link staying inside it is followed, one leaving it is not
    assert _one(files, linked, root=str(root))["status"] == "ok"
    away = make_item(outside / "ct.nii.gz", root / "a" / "seg.nii.gz")
    _expect(_one(files, away, root=str(root)), "outside_raw_root", "raw/")
    through = make_item(root / "b" / "ct.nii.gz", root / "a" / "seg.nii.gz")
    _expect(_one(files, through, root=str(root)), "outside_raw_root")


def test_configuration_errors_are_exceptions_not_rejects(files):
    good = make_item(files["image"], files["mask"])
    check_item(good)
    bad = [
        {"labels": ("a/b", "a_b"), "parts": (("1",), ("2",))},
        {"labels": ("one",)},
        {"parts": (("1",), ("5",))},
        {"declared": ("one", "2")},
        {"sample_id": "../x"},
        {"orientation": "RAA"},
        {"mask_kind": "stack"},
    ]
    for change in bad:
        with pytest.raises(ValueError):
            check_item(make_item(files["image"], files["mask"], **change))
