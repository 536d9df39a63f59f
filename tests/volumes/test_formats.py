"""Every input format gives the same stored arrays: NIfTI-1/-2 (gzipped or not, 4-D
channels, big-endian), NRRD and MetaImage (read by SimpleITK, in LPS space), and a real
file nibabel ships."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import pytest
from nibabel.orientations import aff2axcodes

from tests.volumes import affine, make_item, row_affine, run, save_itk, save_nifti, stored, world
from unimed_kedro.volumes.read import IMAGE, Limits, Rejected, read_volume

SHAPE = (14, 11, 9)
MATRIX = affine((1.2, 0.9, 2.5), origin=(40.0, 25.0, -30.0), codes="LPS")


@pytest.fixture
def scene(tmp_path) -> dict:
    rng = np.random.default_rng(7)
    image = rng.integers(-600, 1200, SHAPE).astype(np.int16)
    seg = np.zeros(SHAPE, dtype=np.uint8)
    seg[3:9, 2:7, 2:6], seg[9:13, 6:10, 5:8] = 1, 2
    return {"image": image, "seg": seg, "tmp": tmp_path}


def _process(tmp: Path, image: Path, mask: Path, name: str, **changes) -> tuple[np.ndarray, dict]:
    (row,) = run([make_item(image, mask, sample_id=name, **changes)], tmp / "out")
    assert row["status"] == "ok", row["detail"]
    return stored(tmp / "out", row), row


def test_nrrd_and_metaimage_match_their_nifti_twin(scene):
    tmp = scene["tmp"]
    nifti = _process(
        tmp,
        save_nifti(tmp / "ct.nii.gz", scene["image"], MATRIX),
        save_nifti(tmp / "seg.nii.gz", scene["seg"], MATRIX),
        "nifti",
    )
    for ext in ("nrrd", "mha", "mhd"):
        image = save_itk(tmp / f"ct.{ext}", scene["image"], MATRIX)
        mask = save_itk(tmp / f"seg.{ext}", scene["seg"], MATRIX)
        other = _process(tmp, image, mask, ext)
        assert np.allclose(other[0], nifti[0], atol=1e-5), ext
        assert np.allclose(row_affine(other[1]), row_affine(nifti[1]), atol=1e-5), ext
        assert other[1]["boxes"] == nifti[1]["boxes"] and other[1]["chwd"] == nifti[1]["chwd"]


def test_a_nifti_mask_may_go_with_an_nrrd_image(scene):
    tmp = scene["tmp"]
    image = save_itk(tmp / "ct.nrrd", scene["image"], MATRIX)
    mask = save_nifti(tmp / "seg.nii.gz", scene["seg"], MATRIX)
    assert _process(tmp, image, mask, "mixed")[1]["status"] == "ok"


def test_channel_of_a_4d_image_is_what_is_stored(scene):
    tmp = scene["tmp"]
    second = (scene["image"][::-1] // 2).astype(np.int16)
    both = np.stack([scene["image"], second], axis=-1)
    mask = save_nifti(tmp / "seg.nii.gz", scene["seg"], MATRIX)
    four = save_nifti(tmp / "mr.nii.gz", both, MATRIX)
    alone = save_nifti(tmp / "second.nii.gz", second, MATRIX)
    picked, row = _process(tmp, four, mask, "channel-1", channel_index=1, modality="MRI")
    expected, _ = _process(tmp, alone, mask, "alone", modality="MRI")
    assert np.array_equal(picked, expected)
    assert json.loads(row["raw_shape"]) == [*SHAPE, 2]
    first, _ = _process(tmp, four, mask, "channel-0", channel_index=0, modality="MRI")
    assert not np.allclose(first, picked)


def test_nifti2_and_uncompressed_nifti_read_alike(scene):
    tmp = scene["tmp"]
    mask = save_nifti(tmp / "seg.nii.gz", scene["seg"], MATRIX)
    one = _process(tmp, save_nifti(tmp / "ct.nii.gz", scene["image"], MATRIX), mask, "one")[0]
    plain = _process(tmp, save_nifti(tmp / "ct.nii", scene["image"], MATRIX), mask, "plain")[0]
    two_path = tmp / "ct2.nii.gz"
    nib.save(nib.Nifti2Image(scene["image"], MATRIX), two_path)
    two = _process(tmp, two_path, mask, "two")[0]
    assert np.array_equal(one, plain)
    assert np.allclose(one, two, atol=1e-5)  # NIfTI-2's affine is float64, NIfTI-1's float32


def test_nibabel_anatomical_file_comes_out_ras(tmp_path):
    # a real scan: big-endian int16, stored LAS, 2 mm voxels, no vox_offset in its header
    path = Path(nib.__file__).parent / "tests" / "data" / "anatomical.nii"
    source = nib.load(path)
    assert aff2axcodes(source.affine) == ("L", "A", "S")
    data = source.get_fdata()
    brain = data > np.percentile(data, 75)
    mask = save_nifti(tmp_path / "brain.nii.gz", brain.astype(np.uint8), source.affine)
    item = make_item(
        path, mask, modality="MRI", declared=("1",), labels=("brain",), parts=(("1",),)
    )
    (row,) = run([item], tmp_path / "out")
    assert row["status"] == "ok", row["detail"]
    out = row_affine(row)
    assert aff2axcodes(out) == ("R", "A", "S")
    assert json.loads(row["raw_shape"]) == [33, 41, 25] and json.loads(row["raw_spacing"]) == [
        2.0,
        2.0,
        2.0,
    ]
    volume = stored(tmp_path / "out", row)
    assert volume.shape == (66, 82, 17) and np.isfinite(volume).all()
    assert abs(volume.mean()) < 1e-4 and abs(volume.std() - 1) < 1e-3
    # the brain's centre stays where it was in the world
    box = json.loads(row["boxes"])[0]
    before = world(source.affine, np.argwhere(brain).mean(axis=0))
    stored_mask = np.zeros(volume.shape, dtype=bool)
    crop = np.load(tmp_path / "out" / row["renorm_segmentation_dir"] / "brain.npy")
    stored_mask[box[0] : box[3], box[1] : box[4], box[2] : box[5]] = crop
    after = world(out, np.argwhere(stored_mask).mean(axis=0))
    assert np.linalg.norm(after - before) < 1.5
    # the stored image is the source resampled: bright where the source is bright
    assert volume[stored_mask].mean() > volume[~stored_mask].mean() + 0.5


def test_simpleitk_reads_gzipped_nifti_only_when_its_bytes_are_the_files(scene):
    tmp = scene["tmp"]
    limits = Limits(max_bytes=10**9, max_voxels=10**9)
    packed = save_nifti(tmp / "ct.nii.gz", scene["image"], MATRIX)
    fast = read_volume(str(packed), IMAGE, limits)
    assert fast.itk is not None and np.array_equal(fast.data[..., 0], scene["image"])
    plain = read_volume(str(save_nifti(tmp / "ct.nii", scene["image"], MATRIX)), IMAGE, limits)
    assert plain.itk is None and np.array_equal(plain.data[..., 0], scene["image"])
    assert fast.sha256 != plain.sha256 and np.array_equal(fast.affine, plain.affine)
    # a sheared affine: ITK refuses it, nibabel's way reads it
    sheared = MATRIX.copy()
    sheared[0, 1] = 0.4
    image = nib.Nifti1Image(scene["image"], sheared)
    image.set_qform(None, code=0)
    nib.save(image, tmp / "shear.nii.gz")
    slow = read_volume(str(tmp / "shear.nii.gz"), IMAGE, limits)
    assert slow.itk is None and np.array_equal(slow.data[..., 0], scene["image"])
    assert np.allclose(slow.affine, sheared)
    # the last gzip bytes replaced by others of a valid stream: ITK would take the voxels
    # as they come; the trailer's CRC tells, and the file is rejected
    whole = bytearray(packed.read_bytes())
    whole[-8:-4] = bytes(4)
    (tmp / "bad-crc.nii.gz").write_bytes(bytes(whole))
    with pytest.raises(Rejected) as rejected:
        read_volume(str(tmp / "bad-crc.nii.gz"), IMAGE, limits)
    assert rejected.value.reason == "unreadable_image"
