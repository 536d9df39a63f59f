"""What is written: the same bytes on every run, `.npy` files in C order that appear
whole, rows of the engine's index columns, and a job the engine runs and resumes."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import run_rows
from tests.volumes import affine, make_item, run, save_nifti
from unimed_kedro.engine.jobs import ChunkJob, ChunkTask, run_job
from unimed_kedro.volumes.options import VolumeOptions
from unimed_kedro.volumes.process import INDEX_COLUMNS, VolumeChunk, normalize_volumes
from unimed_kedro.writers.npy import write_npy


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        str(path.relative_to(folder)): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


@pytest.fixture
def items(tmp_path) -> list:
    rng = np.random.default_rng(3)
    shape = (18, 15, 9)
    matrix = affine((1.1, 0.8, 2.2), origin=(4.0, 5.0, 6.0), codes="LPI")
    seg = np.zeros(shape, dtype=np.uint8)
    seg[2:8, 3:9, 1:5], seg[10:15, 6:12, 4:8] = 1, 2
    made = []
    for number, modality in enumerate(["CT", "MRI"]):
        data = rng.normal(100, 300, shape).astype(np.float32 if modality == "MRI" else np.int16)
        image = save_nifti(tmp_path / f"img{number}.nii.gz", data, matrix)
        mask = save_nifti(tmp_path / f"seg{number}.nii.gz", seg, matrix)
        made.append(
            make_item(
                image,
                mask,
                sample_id=f"case-{number}",
                modality=modality,
                labels=("left/kidney", "right kidney", "kidney"),
                parts=(("1",), ("2",), ("1", "2")),
            )
        )
    return made


def test_reruns_are_byte_identical(tmp_path, items):
    options = VolumeOptions(crop_foreground=True)
    first = run(items, tmp_path / "a", options)
    second = run(items, tmp_path / "b", options)
    assert first == second
    assert _tree(tmp_path / "a") == _tree(tmp_path / "b")
    assert len(_tree(tmp_path / "a")) == 2 * 4  # an image and three labels each
    assert [list(row) for row in first] == [list(INDEX_COLUMNS)] * 2
    assert sorted(os.listdir(tmp_path / "a" / "Demo" / "renorm_segmentation" / "case-0")) == [
        "kidney.npy",
        "left_kidney.npy",
        "right kidney.npy",
    ]


def test_stored_files_are_c_ordered_float32_and_bool(tmp_path, items):
    (row, _) = run(items, tmp_path / "out")
    image = np.load(tmp_path / "out" / row["renorm_image"])
    assert image.dtype == np.float32 and image.flags.c_contiguous and image.ndim == 4
    assert list(image.shape) == json.loads(row["chwd"])
    for name in os.listdir(tmp_path / "out" / row["renorm_segmentation_dir"]):
        crop = np.load(tmp_path / "out" / row["renorm_segmentation_dir"] / name)
        assert crop.dtype == np.bool_ and crop.any()
    for column in ("raw_shape", "raw_spacing", "chwd", "spacing", "affine", "boxes", "roi"):
        assert row[column] == json.dumps(
            json.loads(row[column]), sort_keys=True, separators=(",", ":")
        )


def test_npy_writer_is_c_order_version_1_and_atomic(tmp_path):
    fortran = np.asfortranarray(np.arange(24, dtype=np.float32).reshape(2, 3, 4))
    write_npy(tmp_path / "sub" / "x.npy", fortran)
    data = (tmp_path / "sub" / "x.npy").read_bytes()
    assert data[6:8] == b"\x01\x00" and b"'fortran_order': False" in data
    assert np.array_equal(np.load(tmp_path / "sub" / "x.npy"), fortran)
    write_npy(tmp_path / "sub" / "x.npy", np.ascontiguousarray(fortran))
    assert (tmp_path / "sub" / "x.npy").read_bytes() == data
    assert os.listdir(tmp_path / "sub") == ["x.npy"]  # no temporary left
    with pytest.raises(ValueError):
        write_npy(tmp_path / "sub" / "y.npy", np.array([{"a": 1}], dtype=object))
    assert os.listdir(tmp_path / "sub") == ["x.npy"]


def test_the_engine_runs_and_resumes_the_job(tmp_path, items):
    tasks = [
        ChunkTask(item.sample_id, VolumeChunk((item,), VolumeOptions()), f"fp-{item.sample_id}")
        for item in items
    ]
    job = ChunkJob(
        tasks, normalize_volumes, {"kind": "local", "workers": 1}, index_columns=INDEX_COLUMNS
    )
    out = tmp_path / "store"
    rows = run_rows(job, out)
    assert [r["status"] for r in rows] == ["ok", "ok"]
    before = _tree(out)
    assert run_rows(job, out) == rows  # up to date: nothing rebuilt
    assert _tree(out) == before
    # a label file lost: its chunk is stale and rebuilt, the file back
    lost = out / rows[0]["renorm_segmentation_dir"] / "kidney.npy"
    lost.unlink()
    run_job(job, out)
    assert lost.exists() and _tree(out) == before
