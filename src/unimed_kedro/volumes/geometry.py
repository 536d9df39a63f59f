"""Where the stored voxels lie: orientation, spacing, cropping, and the resampling that
carries raw voxels onto that grid.

The stored grid is the raw one turned to the item's axis codes (nibabel.orientations:
a permutation and flips of the raw axes, the affine updated with `inv_ornt_aff`), then
given the target spacing: `m = max(1, round(n * s_in / s_out))` voxels per axis
(round half up), **centred** on the raw extent: the m voxels of the output span
`m * s_out` mm around the same centre as the raw `n * s_in`, so the first output voxel's
centre lies at raw index `(n - 1) / 2 - (m - 1) / 2 * s_out / s_in`. Centring makes the
grid independent of how the file stores its axes (an LPS file and its RAS twin give the
same voxels), where aligning the first corner would shift it by up to a voxel. An oblique
affine keeps its rotation (as MONAI's `Spacingd` with `diagonal=False`): the grid follows
the raw axes, and `affine` maps stored indices to RAS mm exactly.

One SimpleITK resampling does the turn and the spacing together, straight from the raw
array: the input image is the raw array in index space (spacing 1, origin 0, identity
direction; `array.T` of a Fortran-ordered raw array, so no transpose copy), the output
grid is described in raw index coordinates. The output's ITK axes follow the raw axes'
order (its x is the stored axis that raw i became, ...), so the resampler walks the input
in memory order: with the stored axes' order instead (x = axis 2, so C order came out
directly) it gathered across slices and took 2.6x as long on a 512x512x300 CT. The
result, SimpleITK's buffer itself (no copy), is returned as a view in the stored axes'
order; making it C-ordered costs a copy of the output (~0.05 s at 25 Mvox), not of the
input. Shear never reaches ITK, whose direction must be orthonormal: it stays in the
affine. Linear interpolation for images (points within half a voxel of the edge take the
edge value, as MONAI's border padding), nearest for masks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import SimpleITK as sitk
from nibabel.orientations import axcodes2ornt, inv_ornt_aff, io_orientation, ornt_transform

from unimed_kedro.volumes.read import itk_voxels

Box = tuple[slice, slice, slice]


@dataclass(frozen=True)
class Grid:
    """The stored array's grid: its shape, `affine` (stored index -> RAS mm) and `to_raw`
    (stored index -> the raw array's continuous index)."""

    shape: tuple[int, int, int]
    affine: np.ndarray
    to_raw: np.ndarray

    @property
    def spacing(self) -> tuple[float, float, float]:
        norms = np.linalg.norm(self.affine[:3, :3], axis=0)
        return float(norms[0]), float(norms[1]), float(norms[2])

    def crop(self, box: Box) -> Grid:
        """The sub-grid `box` of this one (indices shift, the affine with them)."""
        shift = np.eye(4)
        shift[:3, 3] = [s.start for s in box]
        shape = tuple(s.stop - s.start for s in box)
        return Grid((shape[0], shape[1], shape[2]), self.affine @ shift, self.to_raw @ shift)


def target_grid(
    affine: np.ndarray, shape: tuple[int, int, int], axcodes: str, spacing: tuple[float, ...]
) -> Grid:
    """The stored grid of a raw array of `shape` and `affine`: turned to `axcodes`, with
    `spacing` mm per stored axis (see the module's note on the centring)."""
    transform = ornt_transform(io_orientation(affine), axcodes2ornt(axcodes))
    to_raw = inv_ornt_aff(transform, shape)  # oriented index -> raw index
    oriented = affine @ to_raw
    n = np.zeros(3)
    for axis, (target, _) in enumerate(transform):
        n[int(target)] = shape[axis]
    ratio = np.asarray(spacing, dtype=np.float64) / np.linalg.norm(oriented[:3, :3], axis=0)
    m = np.maximum(1.0, np.floor(n / ratio + 0.5))
    scale = np.eye(4)
    scale[:3, :3] = np.diag(ratio)
    scale[:3, 3] = (n - 1) / 2 - (m - 1) / 2 * ratio
    size = tuple(int(v) for v in m)
    return Grid((size[0], size[1], size[2]), oriented @ scale, to_raw @ scale)


def resample(raw: np.ndarray | sitk.Image, grid: Grid, *, linear: bool) -> np.ndarray:
    """`raw` resampled onto `grid`: float32 when `linear`, else nearest in the input's
    type. `raw` is the raw array transposed (C order (k, j, i) is what SimpleITK copies
    without reordering), or a 3-D ITK image of the raw voxels (taken as it is, its
    geometry set to index space). A writable view of SimpleITK's buffer, indexed (axis 0,
    1, 2), C-ordered only when the raw axes were already in the stored order."""
    image = raw if isinstance(raw, sitk.Image) else _itk_image(raw)
    image.SetOrigin((0.0, 0.0, 0.0))
    image.SetSpacing((1.0, 1.0, 1.0))
    image.SetDirection((1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0))
    # the output's ITK axes (x, y, z): the stored axes that raw i, j, k became
    order = np.argsort(np.argmax(np.abs(grid.to_raw[:3, :3]), axis=0))
    matrix = grid.to_raw[:3, :3][:, order]
    spacing = np.linalg.norm(matrix, axis=0)
    resampler = sitk.ResampleImageFilter()
    resampler.SetSize([int(grid.shape[axis]) for axis in order])
    resampler.SetOutputOrigin([float(v) for v in grid.to_raw[:3, 3]])
    resampler.SetOutputSpacing([float(v) for v in spacing])
    resampler.SetOutputDirection([float(v) for v in (matrix / spacing).ravel()])
    resampler.SetInterpolator(sitk.sitkLinear if linear else sitk.sitkNearestNeighbor)
    resampler.SetOutputPixelType(sitk.sitkFloat32 if linear else image.GetPixelID())
    resampler.SetDefaultPixelValue(0)
    resampler.SetUseNearestNeighborExtrapolator(True)
    voxels = itk_voxels(resampler.Execute(image))  # axes (order[2], order[1], order[0])
    return voxels.transpose([2 - int(np.flatnonzero(order == axis)[0]) for axis in range(3)])


def _itk_image(raw_kji: np.ndarray) -> sitk.Image:
    if raw_kji.dtype == np.bool_:
        raw_kji = raw_kji.view(np.uint8)
    return sitk.GetImageFromArray(np.ascontiguousarray(raw_kji))


def set_threads(threads: int) -> None:
    """SimpleITK's threads for every filter of this process (a filter's own
    `SetNumberOfThreads` is ignored by the resampler)."""
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(threads)


def bounding_box(mask: np.ndarray) -> Box | None:
    """The smallest box holding every true voxel of a 3-D bool array; None when none is."""
    spans = []
    for axis in range(3):
        hit = np.flatnonzero(np.any(mask, axis=tuple(a for a in range(3) if a != axis)))
        if hit.size == 0:
            return None
        spans.append(slice(int(hit[0]), int(hit[-1]) + 1))
    return spans[0], spans[1], spans[2]


def union_box(boxes: list[Box]) -> Box:
    spans = [slice(min(b[a].start for b in boxes), max(b[a].stop for b in boxes)) for a in range(3)]
    return spans[0], spans[1], spans[2]


def box_list(box: Box | None) -> list[int] | bool:
    """SAT-DS's `[y1, x1, z1, y2 + 1, x2 + 1, z2 + 1]` (array axes 0, 1, 2), or False."""
    if box is None:
        return False
    return [s.start for s in box] + [s.stop for s in box]


def corner_distance(a: np.ndarray, b: np.ndarray, shape: tuple[int, int, int]) -> float:
    """How far apart (mm) two affines put the corner voxels of a `shape` array: the
    largest distance over the eight corners."""
    corners = np.array(np.meshgrid(*[(0, n - 1) for n in shape], indexing="ij")).reshape(3, -1)
    corners = np.vstack([corners, np.ones(corners.shape[1])])
    return float(np.max(np.linalg.norm((a @ corners - b @ corners)[:3], axis=0)))
