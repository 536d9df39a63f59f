"""Masks after resampling: binary, aligned with the image, cropped to their boxes, merged
labels the union of their parts; one-file-per-label masks (overlapping, more than one
bit plane of them) equal to resampling each alone."""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from tests.volumes import affine, make_item, run, save_nifti, sphere, stored
from unimed_kedro.volumes.geometry import resample, target_grid
from unimed_kedro.volumes.options import VolumeOptions
from unimed_kedro.volumes.overlay import masks_from_store
from unimed_kedro.writers.satds import label_file_name


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    return 2 * np.logical_and(a, b).sum() / (a.sum() + b.sum())


def test_sphere_mask_stays_aligned_with_the_image(tmp_path):
    spacing, shape = (0.8, 0.8, 2.5), (48, 44, 16)
    matrix = affine(spacing, origin=(3.0, -7.0, 11.0), codes="LAS")
    ball = sphere(shape, (22.0, 20.0, 7.0), 9.0, spacing)
    data = np.where(ball, 900, -900).astype(np.int16)
    image = save_nifti(tmp_path / "ct.nii.gz", data, matrix)
    labels = save_nifti(tmp_path / "seg.nii.gz", ball.astype(np.uint8), matrix)
    item = make_item(image, labels, declared=("1",), labels=("ball",), parts=(("1",),))
    (row,) = run([item], tmp_path / "out")
    volume = stored(tmp_path / "out", row)
    mask = masks_from_store(tmp_path / "out", row, ["ball"])["ball"]
    crop = np.load(tmp_path / "out" / row["renorm_segmentation_dir"] / "ball.npy")
    assert crop.dtype == np.bool_ and mask.shape == volume.shape
    bright = volume > (volume.max() + volume.min()) / 2
    assert _dice(mask, bright) > 0.9
    # the stored crop is exactly the mask's box
    box = json.loads(row["boxes"])[0]
    assert crop.shape == tuple(np.array(box[3:]) - box[:3])
    assert crop[0].any() and crop[-1].any() and crop[:, 0].any() and crop[:, :, -1].any()


def test_merged_label_is_the_union_of_its_parts(tmp_path):
    shape = (20, 18, 12)
    seg = np.zeros(shape, dtype=np.uint8)
    seg[2:6, 3:9, 2:5] = 1  # left kidney
    seg[12:17, 4:10, 6:10] = 2  # right kidney
    seg[8:10, 8:10, 8:10] = 3  # liver
    data = np.random.default_rng(0).integers(-100, 100, shape).astype(np.int16)
    image = save_nifti(tmp_path / "ct.nii.gz", data, affine((1.5, 1.5, 2.0)))
    labels = save_nifti(tmp_path / "seg.nii.gz", seg, affine((1.5, 1.5, 2.0)))
    item = make_item(
        image,
        labels,
        declared=("1", "2", "3"),
        labels=("left kidney", "right kidney", "kidney", "liver"),
        parts=(("1",), ("2",), ("1", "2"), ("3",)),
    )
    (row,) = run([item], tmp_path / "out")
    names = ["left kidney", "right kidney", "kidney", "liver"]
    full = masks_from_store(tmp_path / "out", row, names)
    assert np.array_equal(full["kidney"], full["left kidney"] | full["right kidney"])
    assert not (full["left kidney"] & full["right kidney"]).any()
    assert full["liver"].any() and not (full["liver"] & full["kidney"]).any()
    boxes = json.loads(row["boxes"])
    assert boxes[2] == _union([boxes[0], boxes[1]])
    assert json.loads(row["roi"]) == _union(boxes)


def _union(boxes: list) -> list:
    return (
        np.min([b[:3] for b in boxes], axis=0).tolist()
        + np.max([b[3:] for b in boxes], axis=0).tolist()
    )


def test_label_files_overlap_and_span_several_bit_planes(tmp_path):
    # 35 overlapping structures: two bit planes (32 + 3); each must equal its own resampling
    shape, spacing = (14, 12, 6), (1.4, 1.2, 2.0)
    rng = np.random.default_rng(5)
    matrix = affine(spacing, codes="LPS")
    image = save_nifti(
        tmp_path / "ct.nii.gz", rng.integers(-50, 50, shape).astype(np.int16), matrix
    )
    folder = tmp_path / "segmentations"
    folder.mkdir()
    names, structures = [], []
    for number in range(35):
        structure = np.zeros(shape, dtype=np.uint8)
        start = rng.integers(0, 8, 3)
        structure[start[0] : start[0] + 6, start[1] : start[1] + 4, start[2] : start[2] + 3] = 1
        names.append(f"s{number:02d}.nii.gz")
        structures.append(structure)
        save_nifti(folder / names[-1], structure, matrix)
    item = make_item(
        image,
        folder,
        mask_kind="files",
        declared=tuple(names),
        labels=tuple(f"structure {n}" for n in range(35)),
        parts=tuple((name,) for name in names),
    )
    (row,) = run([item], tmp_path / "out")
    assert row["status"] == "ok", row["detail"]
    full = masks_from_store(tmp_path / "out", row, list(item.labels))
    grid = target_grid(matrix, shape, "RAS", (1.0, 1.0, 3.0))
    for label, structure in zip(item.labels, structures):
        alone = resample(structure.T, grid, linear=False) > 0
        assert np.array_equal(full[label], alone), label


def test_a_label_emptied_by_resampling_has_no_file_and_false_box(tmp_path):
    shape = (12, 12, 12)
    seg = np.zeros(shape, dtype=np.uint8)
    seg[2:8, 2:8, 2:8] = 1
    seg[9, 9, 9] = 2  # one 1 mm voxel between the 3 mm samples (raw 1, 4, 7, 10): gone
    data = np.zeros(shape, dtype=np.int16)
    image = save_nifti(tmp_path / "ct.nii.gz", data, affine())
    labels = save_nifti(tmp_path / "seg.nii.gz", seg, affine())
    item = make_item(image, labels)
    (row,) = run([item], tmp_path / "out", VolumeOptions(spacing=(3.0, 3.0, 3.0)))
    boxes = json.loads(row["boxes"])
    assert boxes[1] is False and boxes[0] is not False
    files = sorted(os.listdir(tmp_path / "out" / row["renorm_segmentation_dir"]))
    assert files == ["one.npy"]


@pytest.mark.parametrize(
    "label,name",
    [
        ("liver", "liver.npy"),
        ("Left Eyeball (OS)", "Left Eyeball (OS).npy"),
        ("a/b: c.d", "a_b_ c_d.npy"),
        ("..", "__.npy"),
        ("vértebra", "v_rtebra.npy"),
    ],
)
def test_label_file_names_are_safe(label, name):
    assert label_file_name(label) == name


def test_label_order_and_value_types_do_not_change_the_masks(tmp_path):
    # labels listed against the values' order (a table remap, not the identity), and the
    # same map stored as int16 with a negative declared value
    shape = (16, 14, 9)
    seg = np.zeros(shape, dtype=np.int16)
    seg[2:7, 2:7, 1:4], seg[9:14, 6:12, 3:8], seg[0:3, 10:14, 6:9] = 1, 2, -1
    data = np.random.default_rng(2).integers(-100, 100, shape).astype(np.int16)
    image = save_nifti(tmp_path / "ct.nii.gz", data, affine((1.2, 1.2, 2.0)))
    plain = save_nifti(
        tmp_path / "plain.nii.gz", np.clip(seg, 0, None).astype(np.uint8), affine((1.2, 1.2, 2.0))
    )
    signed = save_nifti(tmp_path / "signed.nii.gz", seg, affine((1.2, 1.2, 2.0)))
    rows = run(
        [
            make_item(image, plain, sample_id="plain"),
            make_item(
                image,
                signed,
                sample_id="signed",
                declared=("-1", "1", "2"),
                labels=("two", "other", "one"),
                parts=(("2",), ("-1",), ("1",)),
            ),
        ],
        tmp_path / "out",
    )
    plain_masks = masks_from_store(tmp_path / "out", rows[0], ["one", "two"])
    signed_masks = masks_from_store(tmp_path / "out", rows[1], ["two", "other", "one"])
    assert np.array_equal(plain_masks["one"], signed_masks["one"])
    assert np.array_equal(plain_masks["two"], signed_masks["two"])
    assert signed_masks["other"].any() and not (signed_masks["other"] & signed_masks["one"]).any()
