"""Intensities by modality, as SAT-DS's loader: CT clipped to -500..1000 HU then
z-scored, MRI/PET clipped to the 0.5/99.5 percentiles then z-scored, over the stored
volume; a constant volume gives zeros, a NaN never reaches the output."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pytest

from tests.volumes import affine, make_item, run, save_nifti, stored
from unimed_kedro.volumes.intensity import clip_and_standardize, moments
from unimed_kedro.volumes.options import VolumeOptions

SHAPE = (16, 12, 8)
# target spacing = raw spacing, RAS: the stored array is the raw one, values aside
SAME_GRID = VolumeOptions(spacing=(1.0, 1.0, 1.0))


def _write(tmp_path, data, modality="CT", options=SAME_GRID, name="case-1"):
    mask = np.zeros(data.shape, dtype=np.uint8)
    mask[2:6, 2:6, 2:6] = 1
    image = save_nifti(tmp_path / f"{name}.nii.gz", data, affine())
    labels = save_nifti(tmp_path / f"{name}-seg.nii.gz", mask, affine())
    item = make_item(
        image,
        labels,
        sample_id=name,
        modality=modality,
        declared=("1",),
        labels=("x",),
        parts=(("1",),),
    )
    (row,) = run([item], tmp_path / "out", options)
    assert row["status"] == "ok", row["detail"]
    return stored(tmp_path / "out", row), row


def _zscore(values: np.ndarray) -> np.ndarray:
    return (values - values.mean()) / values.std()


def test_ct_is_clipped_to_the_window_then_z_scored(tmp_path):
    rng = np.random.default_rng(0)
    raw = rng.integers(-1024, 2000, SHAPE).astype(np.int16)
    raw[0, 0, 0], raw[1, 0, 0] = -1000, 3000
    out, _ = _write(tmp_path, raw)
    expected = _zscore(np.clip(raw.astype(np.float64), -500, 1000))
    assert np.allclose(out, expected, atol=1e-5)
    assert abs(out.mean()) < 1e-5 and abs(out.std() - 1) < 1e-5
    clipped_low = (-500 - np.clip(raw, -500, 1000).mean()) / np.clip(raw, -500, 1000).std()
    assert out[0, 0, 0] == pytest.approx(clipped_low, abs=1e-5)
    assert out[0, 0, 0] == out.min() and out[1, 0, 0] == out.max()


def test_mri_is_clipped_to_its_percentiles_then_z_scored(tmp_path):
    rng = np.random.default_rng(1)
    raw = rng.gamma(2.0, 150.0, SHAPE).astype(np.float32)
    raw[3, 3, 3] = 1e6  # one outlier: clipped away
    out, _ = _write(tmp_path, raw, modality="MRI")
    low, high = np.percentile(raw, [0.5, 99.5])
    expected = _zscore(np.clip(raw.astype(np.float64), low, high))
    assert np.allclose(out, expected, atol=1e-4)
    assert out[3, 3, 3] == pytest.approx(expected.max(), abs=1e-4)


def test_a_constant_volume_gives_zeros_not_nan(tmp_path):
    out, _ = _write(tmp_path, np.full(SHAPE, 40, dtype=np.int16))
    assert np.all(out == 0)
    out, _ = _write(tmp_path, np.full(SHAPE, 7.5, dtype=np.float32), modality="PET", name="pet")
    assert np.all(out == 0)


def test_nan_voxels_never_reach_the_output(tmp_path):
    raw = np.random.default_rng(2).normal(100, 20, SHAPE).astype(np.float32)
    raw[4, 4, 4], raw[5, 5, 5] = np.nan, np.inf
    out, _ = _write(tmp_path, raw, modality="MRI", options=VolumeOptions())
    assert np.all(np.isfinite(out))


def test_scaled_big_endian_file_is_read_as_its_stored_values(tmp_path):
    # int16 big-endian with scl_slope 2, scl_inter -100, written byte by byte
    raw = np.random.default_rng(3).integers(-300, 600, SHAPE).astype(">i2")
    header = nib.Nifti1Header(endianness=">")
    header.set_data_shape(SHAPE)
    header.set_data_dtype(">i2")
    header.set_sform(affine(), code=1)
    header["scl_slope"], header["scl_inter"], header["vox_offset"] = 2.0, -100.0, 352
    path = tmp_path / "scaled.nii"
    path.write_bytes(header.binaryblock + b"\0" * 4 + raw.tobytes(order="F"))
    assert np.array_equal(nib.load(path).get_fdata(), raw * 2.0 - 100)  # nibabel agrees
    twin = (raw.astype(np.float64) * 2 - 100).astype(np.float32)
    out, _ = _write(tmp_path, twin, name="twin")
    mask = save_nifti(tmp_path / "scaled-seg.nii.gz", (raw > 0).astype(np.uint8), affine())
    item = make_item(
        path, mask, sample_id="scaled", declared=("1",), labels=("x",), parts=(("1",),)
    )
    (row,) = run([item], tmp_path / "out", SAME_GRID)
    assert np.allclose(stored(tmp_path / "out", row), out, atol=1e-5)
    assert json.loads(row["raw_shape"]) == list(SHAPE)


def test_crop_foreground_keeps_voxels_above_the_lower_bound(tmp_path):
    raw = np.full(SHAPE, -1000, dtype=np.int16)
    raw[3:9, 2:7, 1:5] = 200
    options = VolumeOptions(spacing=(1.0, 1.0, 1.0), crop_foreground=True)
    out, row = _write(tmp_path, raw, options=options)
    assert out.shape == (6, 5, 4)
    assert np.all(out == 0)  # what is left is constant
    assert json.loads(row["affine"])[0][3] == pytest.approx(3.0)  # shifted by the crop
    assert json.loads(row["boxes"]) == [[0, 0, 1, 3, 4, 4]]  # mask [2:6]^3, cropped too


def test_moments_match_numpy_in_float64():
    values = np.random.default_rng(4).normal(3, 2, 5_000_001).astype(np.float32)
    mean, std = moments(values)
    assert mean == pytest.approx(values.astype(np.float64).mean(), rel=1e-12)
    assert std == pytest.approx(values.astype(np.float64).std(), rel=1e-9)
    copy = values.copy()
    clip_and_standardize(copy, 0.0, 4.0)
    assert copy.min() == pytest.approx(
        (0 - np.clip(values, 0, 4).mean()) / np.clip(values, 0, 4).std(), rel=1e-5
    )
