"""Orientation and spacing: whatever axes a file stores, the stored array is in the item's
axis codes at the target spacing, and its affine says exactly where each voxel lies."""

from __future__ import annotations

import json

import numpy as np
import pytest
from nibabel.orientations import aff2axcodes

from tests.volumes import affine, make_item, row_affine, run, save_nifti, sphere, stored, world
from unimed_kedro.volumes.geometry import target_grid
from unimed_kedro.volumes.options import VolumeOptions

SHAPE = (12, 14, 10)


@pytest.mark.parametrize(
    "codes,spacing",
    [("LPS", (2.0, 1.5, 3.0)), ("PSR", (1.5, 3.0, 2.0)), ("LAS", (2.0, 1.5, 3.0))],
)
def test_marker_lands_at_its_world_position(tmp_path, codes, spacing):
    # the target spacing is the raw one (turned to RAS), so the voxels move without blur
    shape = SHAPE
    matrix = affine(spacing, origin=(30.0, -20.0, 7.0), codes=codes)
    marker = (3, 9, 2)
    data = np.full(shape, -1000, dtype=np.int16)
    data[marker] = 1000
    mask = np.zeros(shape, dtype=np.uint8)
    mask[marker] = 1
    image = save_nifti(tmp_path / "ct.nii.gz", data, matrix)
    labels = save_nifti(tmp_path / "seg.nii.gz", mask, matrix)
    ras_spacing = tuple(float(s) for s in np.linalg.norm(matrix[:3, :3], axis=1))
    options = VolumeOptions(spacing=ras_spacing)
    item = make_item(image, labels, declared=("1",), labels=("dot",), parts=(("1",),))
    (row,) = run([item], tmp_path / "out", options)
    assert row["status"] == "ok", row["detail"]
    out = row_affine(row)
    assert aff2axcodes(out) == ("R", "A", "S")
    assert np.allclose(np.linalg.norm(out[:3, :3], axis=0), ras_spacing)
    volume = stored(tmp_path / "out", row)
    found = np.unravel_index(np.argmax(volume), volume.shape)
    assert np.allclose(world(out, found), world(matrix, marker))
    assert json.loads(row["boxes"]) == [[*found, *(f + 1 for f in found)]]


def test_resampled_blob_keeps_its_world_centre(tmp_path):
    # stored LPS at 0.8 x 0.9 x 2.5 mm, resampled to 1 x 1 x 3 mm RAS
    spacing = (0.8, 0.9, 2.5)
    shape = (40, 36, 14)
    matrix = affine(spacing, origin=(12.0, 30.0, -40.0), codes="LPS")
    centre = (17.0, 21.0, 6.0)
    blob = sphere(shape, centre, 4.0, spacing)
    data = np.where(blob, 800, -800).astype(np.int16)
    image = save_nifti(tmp_path / "ct.nii.gz", data, matrix)
    labels = save_nifti(tmp_path / "seg.nii.gz", blob.astype(np.uint8), matrix)
    item = make_item(image, labels, declared=("1",), labels=("blob",), parts=(("1",),))
    (row,) = run([item], tmp_path / "out")
    volume, out = stored(tmp_path / "out", row), row_affine(row)
    bright = np.argwhere(volume > volume.mean())
    assert np.linalg.norm(world(out, bright.mean(axis=0)) - world(matrix, centre)) < 0.5


def test_output_shape_and_zooms_follow_the_target_spacing(tmp_path):
    spacing, shape = (0.7, 1.3, 2.2), (30, 20, 12)
    matrix = affine(spacing, origin=(5.0, 6.0, 7.0), codes="RAS")
    data = np.random.default_rng(0).integers(-200, 200, shape).astype(np.int16)
    mask = np.zeros(shape, dtype=np.uint8)
    mask[10:20, 5:15, 3:9] = 1
    image = save_nifti(tmp_path / "ct.nii.gz", data, matrix)
    labels = save_nifti(tmp_path / "seg.nii.gz", mask, matrix)
    item = make_item(image, labels, declared=("1",), labels=("box",), parts=(("1",),))
    (row,) = run([item], tmp_path / "out")
    chwd, out = json.loads(row["chwd"]), row_affine(row)
    extent = np.array(shape) * np.array(spacing)
    target = np.array([1.0, 1.0, 3.0])
    assert np.all(np.abs(np.array(chwd[1:]) - extent / target) <= 0.5)
    assert chwd[1:] == [21, 26, 9]
    assert np.allclose(np.linalg.norm(out[:3, :3], axis=0), target)
    assert json.loads(row["spacing"]) == pytest.approx(list(target))
    # centred: the output's middle is the raw volume's middle
    middle_out = world(out, (np.array(chwd[1:]) - 1) / 2)
    assert np.allclose(middle_out, world(matrix, (np.array(shape) - 1) / 2))


def test_twins_stored_in_other_axes_give_the_same_voxels(tmp_path):
    # the same scene stored RAS and LPS: centring makes the grids, so the arrays, equal
    rng = np.random.default_rng(1)
    shape, spacing = (17, 13, 9), (1.3, 0.7, 2.0)
    ras = rng.integers(-400, 900, shape).astype(np.int16)
    mask = (ras > 600).astype(np.uint8)
    m_ras = affine(spacing, origin=(-10.0, -4.0, 2.0), codes="RAS")
    m_lps = m_ras @ np.array([[-1, 0, 0, 16], [0, -1, 0, 12], [0, 0, 1, 0], [0, 0, 0, 1.0]])
    rows = []
    for name, data, matrix, seg in [
        ("ras", ras, m_ras, mask),
        ("lps", ras[::-1, ::-1], m_lps, mask[::-1, ::-1]),
    ]:
        image = save_nifti(tmp_path / f"{name}.nii.gz", data, matrix)
        labels = save_nifti(tmp_path / f"{name}-seg.nii.gz", seg, matrix)
        item = make_item(
            image, labels, sample_id=name, declared=("1",), labels=("x",), parts=(("1",),)
        )
        rows += run([item], tmp_path / "out")
    # (the files' affines are float32: equal to ~1e-6 mm)
    assert np.allclose(row_affine(rows[0]), row_affine(rows[1]), atol=1e-5)
    assert rows[0]["boxes"] == rows[1]["boxes"] and rows[0]["chwd"] == rows[1]["chwd"]
    assert np.allclose(
        stored(tmp_path / "out", rows[0]), stored(tmp_path / "out", rows[1]), atol=1e-5
    )


def test_grid_of_an_oblique_affine_keeps_its_rotation():
    angle = np.deg2rad(20)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    matrix = np.eye(4)
    matrix[:3, :3] = rotation @ np.diag([0.5, 0.5, 2.0])
    grid = target_grid(matrix, (40, 40, 10), "RAS", (1.0, 1.0, 3.0))
    assert grid.shape == (20, 20, 7)
    assert np.allclose(np.linalg.norm(grid.affine[:3, :3], axis=0), [1.0, 1.0, 3.0])
    assert np.allclose(grid.affine[:3, :3] / [1.0, 1.0, 3.0], rotation)
    # every stored index maps through to_raw and the raw affine to the same point
    index = np.array([3.0, 7.0, 2.0, 1.0])
    assert np.allclose(grid.affine @ index, matrix @ grid.to_raw @ index)
