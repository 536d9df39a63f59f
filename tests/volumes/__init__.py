"""Helpers of the 3D volume tests: small NIfTI / NRRD files written on the fly, items,
and one chunk run through the real chunk function."""

from __future__ import annotations

import json
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk

from unimed_kedro.engine.jobs import ChunkTask
from unimed_kedro.volumes.options import VolumeOptions
from unimed_kedro.volumes.process import VolumeChunk, VolumeItem, normalize_volumes


def affine(spacing=(1.0, 1.0, 1.0), origin=(0.0, 0.0, 0.0), codes: str = "RAS") -> np.ndarray:
    """An axis-aligned affine whose raw axes point towards `codes` (`LPS`, `PSR`, ...)."""
    directions = {"R": (0, 1), "L": (0, -1), "A": (1, 1), "P": (1, -1), "S": (2, 1), "I": (2, -1)}
    matrix = np.eye(4)
    matrix[:3, :3] = 0
    for axis, code in enumerate(codes):
        world, sign = directions[code]
        matrix[world, axis] = sign * spacing[axis]
    matrix[:3, 3] = origin
    return matrix


def save_nifti(path: Path, data: np.ndarray, matrix: np.ndarray) -> Path:
    image = nib.Nifti1Image(np.asarray(data), matrix)
    image.set_qform(matrix, code=1)
    image.set_sform(matrix, code=1)
    nib.save(image, path)
    return path


def save_itk(path: Path, data: np.ndarray, matrix: np.ndarray) -> Path:
    """`data` indexed (i, j, k) with RAS `matrix`, as SimpleITK writes it (LPS space)."""
    image = sitk.GetImageFromArray(np.ascontiguousarray(np.asarray(data).T))
    lps = np.diag([-1.0, -1.0, 1.0]) @ matrix[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    image.SetSpacing(spacing.tolist())
    image.SetDirection((lps / spacing).ravel().tolist())
    image.SetOrigin((np.diag([-1.0, -1.0, 1.0]) @ matrix[:3, 3]).tolist())
    sitk.WriteImage(image, str(path))
    return path


def make_item(image: Path | str, mask: Path | str | None, **changes) -> VolumeItem:
    """A label-map item with labels `one` (value 1) and `two` (value 2) by default."""
    fields = {
        "sample_id": "case-1",
        "dataset": "Demo",
        "image": str(image),
        "channel_index": None,
        "mask": None if mask is None else str(mask),
        "mask_kind": "labelmap",
        "declared": ("1", "2"),
        "labels": ("one", "two"),
        "parts": (("1",), ("2",)),
        "modality": "CT",
        "orientation": "RAS",
    }
    fields.update(changes)
    return VolumeItem(**fields)


def run(items, out_dir: Path, options: VolumeOptions | None = None, **chunk) -> list[dict]:
    """Rows of one engine task over `items` (written into `out_dir`)."""
    payload = VolumeChunk(tuple(items), options or VolumeOptions(), **chunk)
    rows, outputs = normalize_volumes(ChunkTask("k", payload, "fp"), out_dir)
    ok = [row for row in rows if row["status"] == "ok"]
    assert outputs == [
        p for row in ok for p in (row["renorm_image"], row["renorm_segmentation_dir"])
    ]
    return rows


def stored(out_dir: Path, row: dict) -> np.ndarray:
    """The stored image (H, W, D) of an accepted row."""
    return np.load(out_dir / row["renorm_image"])[0]


def row_affine(row: dict) -> np.ndarray:
    return np.array(json.loads(row["affine"]))


def world(matrix: np.ndarray, index) -> np.ndarray:
    return (matrix @ np.append(np.asarray(index, dtype=float), 1.0))[:3]


def sphere(shape, centre, radius, spacing=(1.0, 1.0, 1.0)) -> np.ndarray:
    """Voxels within `radius` mm of `centre` (a voxel index), on an anisotropic grid."""
    grids = np.meshgrid(*[np.arange(n) for n in shape], indexing="ij")
    distance = sum(((g - c) * s) ** 2 for g, c, s in zip(grids, centre, spacing))
    return distance <= radius**2
