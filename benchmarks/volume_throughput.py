"""Per-volume cost of the satds normalize path, as ratios to baselines timed in the same run.

Why: seconds per volume depend on the machine (CPU, disk, page cache), so a number alone
says little. Each run synthesizes one CT volume (int16 HU, 0.8 x 0.8 x 1.5 mm, stored LPS
so the turn to RAS is real work) with a label map of five organs, both `.nii.gz`, and
times the whole path per volume (load, orient, resample image and mask, normalize, write)
on one core:
(a) ours: `unimed_kedro.volumes.process.normalize_volumes` on one item (1 SimpleITK
    thread), as the engine runs it;
(b) sitk-tuned: a hand-tuned SimpleITK script doing the same steps (ReadImage,
    DICOMOrient to RAS, Resample linear / nearest onto the same centred grid, clip and
    z-score in numpy, np.save), the per-core limit; target ours <= 1.2x its time;
(c) naive-seed: the seed scripts' way (nibabel get_fdata as float64,
    scipy.ndimage.zoom on the Fortran-ordered array nibabel returns, nib.save .nii.gz at
    gzip level 6);
(d) pool: N volumes (default 4) through a process Pool(1) and a Pool(2) calling our item
    function; target >= 1.8x on two cores.

    python benchmarks/volume_throughput.py [--shape 512 512 300] [--rounds 1]
        [--out benchmarks/out/volume-throughput.json] [--workdir DIR]
        [--skip-naive] [--skip-pool] [--volumes 4]

With `--rounds R`, (a) and (b) are timed R times back to back in pairs (which goes first
alternates) and the ratio is the median of the per-pair ratios (a shared VM's speed
drifts within minutes); (c) and (d) are timed once. The inputs are read right before each
timed method, so none pays a disk read the other did not. The CPU other processes used meanwhile is recorded per row.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import sys
import time
from collections.abc import Callable
from pathlib import Path

import nibabel as nib
import numpy as np
import SimpleITK as sitk
from scipy import ndimage

sys.path.insert(0, str(Path(__file__).resolve().parent))
from normalize_throughput import Monitor  # noqa: E402  (the house's RSS/CPU sampler)
from unimed_kedro.engine.jobs import ChunkTask  # noqa: E402
from unimed_kedro.volumes.options import VolumeOptions  # noqa: E402
from unimed_kedro.volumes.process import VolumeChunk, VolumeItem, normalize_volumes  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SPACING = (0.8, 0.8, 1.5)  # mm, raw
TARGET = (1.0, 1.0, 3.0)  # mm, stored (SAT-DS's)
CT_WINDOW = (-500.0, 1000.0)
# organ: (label value, HU, centre and radii as fractions of the volume's (x, y, z))
ORGANS = {
    "liver": (1, 60, (0.36, 0.45, 0.45), (0.14, 0.12, 0.18)),
    "spleen": (2, 50, (0.68, 0.55, 0.48), (0.06, 0.06, 0.08)),
    "left kidney": (3, 30, (0.64, 0.64, 0.35), (0.04, 0.05, 0.09)),
    "right kidney": (4, 30, (0.36, 0.64, 0.33), (0.04, 0.05, 0.09)),
    "aorta": (5, 150, (0.52, 0.6, 0.5), (0.018, 0.018, 0.45)),
}
TARGETS = {"ours_over_sitk_tuned_max": 1.2, "pool_speedup_min": 1.8}


# --- input ------------------------------------------------------------------------------


def synthesize(folder: Path, shape: tuple[int, int, int]) -> tuple[Path, Path]:
    """`ct.nii.gz` (int16 HU: air, body, lungs, spine, organs, 12 HU noise) and
    `seg.nii.gz` (uint8 organ values), stored LPS; reused when already there."""
    ct, seg = folder / "ct.nii.gz", folder / "seg.nii.gz"
    if ct.exists() and seg.exists():
        return ct, seg
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    nx, ny, nz = shape
    x, y = np.ogrid[:nx, :ny]
    image = np.empty(shape, dtype=np.int16, order="F")
    labels = np.zeros(shape, dtype=np.uint8, order="F")
    body = ((x - nx / 2) / (0.42 * nx)) ** 2 + ((y - ny / 2) / (0.32 * ny)) ** 2 < 1
    spine = ((x - nx / 2) / (0.05 * nx)) ** 2 + ((y - 0.75 * ny) / (0.05 * ny)) ** 2 < 1
    for k in range(nz):
        plane = np.where(body, 40.0, -1000.0)
        if k > 0.6 * nz:  # lungs in the upper part
            for side in (0.32, 0.68):
                lung = ((x - side * nx) / (0.12 * nx)) ** 2 + (
                    (y - 0.45 * ny) / (0.2 * ny)
                ) ** 2 < 1
                plane[lung] = -850
        plane[spine] = 700
        label = np.zeros((nx, ny), dtype=np.uint8)
        for value, hu, centre, radii in ORGANS.values():
            inside = _ellipse(x, y, k, shape, centre, radii)
            if inside is not None:
                plane[inside], label[inside] = hu, value
        image[:, :, k] = np.round(plane + rng.normal(0, 12, (nx, ny))).astype(np.int16)
        labels[:, :, k] = label
    affine = np.diag([-SPACING[0], -SPACING[1], SPACING[2], 1.0])  # LPS: x, y decrease in RAS
    affine[:3, 3] = [SPACING[0] * nx / 2, SPACING[1] * ny / 2, -SPACING[2] * nz / 2]
    nib.save(nib.Nifti1Image(image, affine), ct)
    nib.save(nib.Nifti1Image(labels, affine), seg)
    return ct, seg


def _ellipse(x, y, k, shape, centre, radii) -> np.ndarray | None:
    """The cross-section at slice `k` of an ellipsoid (fractions of `shape`), or None."""
    nx, ny, nz = shape
    left = 1 - ((k - centre[2] * nz) / (radii[2] * nz)) ** 2
    if left <= 0:
        return None
    return ((x - centre[0] * nx) / (radii[0] * nx)) ** 2 + (
        (y - centre[1] * ny) / (radii[1] * ny)
    ) ** 2 < left


def item(ct: Path, seg: Path, sample_id: str = "bench-0") -> VolumeItem:
    names = tuple(ORGANS)
    values = tuple(str(v[0]) for v in ORGANS.values())
    return VolumeItem(
        sample_id=sample_id,
        dataset="Bench",
        image=str(ct),
        channel_index=None,
        mask=str(seg),
        mask_kind="labelmap",
        declared=values,
        labels=(*names, "kidney"),
        parts=(*((v,) for v in values), ("3", "4")),
        modality="CT",
        orientation="RAS",
    )


# --- the three ways -----------------------------------------------------------------------


def ours(ct: Path, seg: Path, out: Path) -> np.ndarray:
    options = VolumeOptions(spacing=TARGET, threads=1)
    task = ChunkTask("bench", VolumeChunk((item(ct, seg),), options), "bench")
    (row,), _ = normalize_volumes(task, out)
    assert row["status"] == "ok", row
    return np.load(out / row["renorm_image"], mmap_mode="r")[0]


def _centred_grid(image: sitk.Image) -> tuple[list[int], list[float]]:
    """Output size and origin of the same centred grid ours uses (see volumes.geometry)."""
    size = np.array(image.GetSize(), dtype=float)
    spacing = np.array(image.GetSpacing())
    out = np.maximum(1, np.floor(size * spacing / TARGET + 0.5))
    direction = np.array(image.GetDirection()).reshape(3, 3)
    shift = spacing * (size - 1) / 2 - np.array(TARGET) * (out - 1) / 2
    origin = np.array(image.GetOrigin()) + direction @ shift
    return [int(n) for n in out], origin.tolist()


def sitk_tuned(ct: Path, seg: Path, out: Path) -> np.ndarray:
    """The hand-tuned SimpleITK script: what one would write for speed alone."""
    sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
    out.mkdir(parents=True, exist_ok=True)
    image = sitk.DICOMOrient(sitk.ReadImage(str(ct)), "RAS")
    size, origin = _centred_grid(image)
    direction = image.GetDirection()
    resampled = sitk.Resample(
        image,
        size,
        sitk.Transform(),
        sitk.sitkLinear,
        origin,
        TARGET,
        direction,
        0.0,
        sitk.sitkFloat32,
    )
    values = np.clip(sitk.GetArrayViewFromImage(resampled), *CT_WINDOW)  # (z, y, x), one copy
    values -= values.mean(dtype=np.float64)
    values /= values.std(dtype=np.float64)
    np.save(out / "image.npy", values.T[None])  # (1, x, y, z), Fortran order: no copy
    labels = sitk.DICOMOrient(sitk.ReadImage(str(seg)), "RAS")
    mask = sitk.Resample(
        labels, size, sitk.Transform(), sitk.sitkNearestNeighbor, origin, TARGET, direction
    )
    np.save(out / "labels.npy", sitk.GetArrayViewFromImage(mask).T[None])
    return values.T


def naive_seed(ct: Path, seg: Path, out: Path) -> np.ndarray:
    """As the seed converters did: float64 everywhere, zoom on nibabel's Fortran array,
    .nii.gz at gzip level 6."""
    out.mkdir(parents=True, exist_ok=True)
    default = nib.openers.Opener.default_compresslevel
    nib.openers.Opener.default_compresslevel = 6
    try:
        image = nib.as_closest_canonical(nib.load(ct))
        zoom = np.array(image.header.get_zooms()[:3]) / TARGET
        data = ndimage.zoom(image.get_fdata(), zoom, order=1)
        data = np.clip(data, *CT_WINDOW)
        data = (data - data.mean()) / data.std()
        nib.save(nib.Nifti1Image(data.astype(np.float32), image.affine), out / "image.nii.gz")
        labels = nib.as_closest_canonical(nib.load(seg))
        mask = ndimage.zoom(labels.get_fdata(), zoom, order=0)
        nib.save(nib.Nifti1Image(mask.astype(np.uint8), labels.affine), out / "labels.nii.gz")
    finally:
        nib.openers.Opener.default_compresslevel = default
    return data


# --- timing ----------------------------------------------------------------------------


def warm(*files: Path) -> None:
    """Read the inputs right before a timed method: this VM's DAMON pageout evicts page
    cache left idle, and a method that found them on disk would pay their read."""
    for path in files:
        path.read_bytes()


def timed(
    run: Callable[[Path, Path, Path], np.ndarray], ct: Path, seg: Path, out: Path
) -> tuple[dict, np.ndarray]:
    shutil.rmtree(out, ignore_errors=True)
    warm(ct, seg)
    with Monitor(os.getpid()) as monitor:
        start = time.perf_counter()
        result = run(ct, seg, out)
        seconds = time.perf_counter() - start
    row = {
        "wall_s": seconds,
        "peak_rss_mb": monitor.peak / 2**20,
        "outside_load_cores": round(monitor.outside_cores, 3),
        "steal_cores": round(monitor.steal_cores, 3),
    }
    return row, result


def pool_speedup(ct: Path, seg: Path, workdir: Path, volumes: int) -> dict:
    """`volumes` items (the same files, their own sample ids) through Pool(1), then
    Pool(2), each started and warmed before the clock runs."""
    options = VolumeOptions(spacing=TARGET, threads=1)
    result: dict = {"volumes": volumes}
    for workers in (1, 2):
        out = workdir / f"pool-{workers}"
        shutil.rmtree(out, ignore_errors=True)
        tasks = [
            (ChunkTask(f"t{n}", VolumeChunk((item(ct, seg, f"bench-{n}"),), options), "bench"), out)
            for n in range(volumes)
        ]
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["unimed_kedro.volumes.process"])
        with context.Pool(workers) as pool:
            pool.map(abs, range(2 * workers))  # started, modules loaded
            warm(ct, seg)
            with Monitor(os.getpid()) as monitor:
                start = time.perf_counter()
                rows = pool.starmap(normalize_volumes, tasks, chunksize=1)
                seconds = time.perf_counter() - start
        assert all(r["status"] == "ok" for rs, _ in rows for r in rs)
        result[f"pool{workers}_s"] = seconds
        result[f"pool{workers}_peak_rss_mb"] = monitor.peak / 2**20
        result[f"pool{workers}_outside_load_cores"] = round(monitor.outside_cores, 3)
        shutil.rmtree(out, ignore_errors=True)
    result["speedup"] = result["pool1_s"] / result["pool2_s"]
    return result


def measure(args: argparse.Namespace, ct: Path, seg: Path, workdir: Path) -> dict:
    pairs = []
    for number in range(max(1, args.rounds)):
        if number % 2:  # every other round the baseline goes first: no order effect
            tuned, reference = timed(sitk_tuned, ct, seg, workdir / "sitk")
            mine, stored = timed(ours, ct, seg, workdir / "ours")
        else:
            mine, stored = timed(ours, ct, seg, workdir / "ours")
            tuned, reference = timed(sitk_tuned, ct, seg, workdir / "sitk")
        pairs.append((mine, tuned))
    ratios = [m["wall_s"] / t["wall_s"] for m, t in pairs]
    middle = sorted(range(len(pairs)), key=ratios.__getitem__)[(len(pairs) - 1) // 2]
    methods = {"ours": pairs[middle][0], "sitk-tuned": pairs[middle][1]}
    methods["ours"]["rounds_s"] = [round(m["wall_s"], 3) for m, _ in pairs]
    methods["sitk-tuned"]["rounds_s"] = [round(t["wall_s"], 3) for _, t in pairs]
    results = {
        "methods": methods,
        "ratios": {
            "ours_over_sitk_tuned": ratios[middle],
            "rounds_ours_over_sitk_tuned": [round(r, 3) for r in ratios],
        },
        "agreement": {
            "shape_ours": list(stored.shape),
            "shape_sitk_tuned": list(reference.shape),
            "max_abs_diff": float(np.max(np.abs(stored - reference)))
            if stored.shape == reference.shape
            else None,
        },
    }
    if not args.skip_naive:
        methods["naive-seed"], _ = timed(naive_seed, ct, seg, workdir / "naive")
        results["ratios"]["naive_over_ours"] = (
            methods["naive-seed"]["wall_s"] / methods["ours"]["wall_s"]
        )
    if not args.skip_pool:
        results["pool"] = pool_speedup(ct, seg, workdir, args.volumes)
        results["ratios"]["pool2_over_pool1_speedup"] = results["pool"]["speedup"]
    for name in ("ours", "sitk-tuned", "naive"):
        shutil.rmtree(workdir / name, ignore_errors=True)
    return results


def table(results: dict) -> str:
    methods, ratios = results["methods"], results["ratios"]
    base = methods["sitk-tuned"]["wall_s"]
    lines = ["| method | s / volume | x sitk-tuned | peak RSS MB |", "|---|---:|---:|---:|"]
    for name, m in methods.items():
        lines.append(
            f"| {name} | {m['wall_s']:.2f} | {m['wall_s'] / base:.2f} | {m['peak_rss_mb']:.0f} |"
        )
    lines.append(
        f"\nours / sitk-tuned: {ratios['ours_over_sitk_tuned']:.2f} (target <= {TARGETS['ours_over_sitk_tuned_max']})"
    )
    if "naive_over_ours" in ratios:
        lines.append(f"naive-seed / ours: {ratios['naive_over_ours']:.1f}x slower")
    if "pool" in results:
        pool = results["pool"]
        lines.append(
            f"Pool(2) vs Pool(1), {pool['volumes']} volumes: {pool['pool1_s']:.2f} s -> "
            f"{pool['pool2_s']:.2f} s, {pool['speedup']:.2f}x (target >= {TARGETS['pool_speedup_min']})"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--shape", type=int, nargs=3, default=[512, 512, 300], metavar=("X", "Y", "Z")
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="time ours and sitk-tuned this many times, in pairs"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "benchmarks" / "out" / "volume-throughput.json"
    )
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "out" / "volume")
    parser.add_argument("--volumes", type=int, default=4, help="volumes through each pool")
    parser.add_argument("--skip-naive", action="store_true", help="no naive-seed row (the slowest)")
    parser.add_argument("--skip-pool", action="store_true", help="no Pool(1) vs Pool(2) row")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    workdir = args.workdir.resolve()
    shape = (args.shape[0], args.shape[1], args.shape[2])
    ct, seg = synthesize(workdir / f"input-{shape[0]}x{shape[1]}x{shape[2]}", shape)
    results = {
        "shape": list(shape),
        "spacing": list(SPACING),
        "target_spacing": list(TARGET),
        "stored": "LPS",
        "input_mb": {"image": ct.stat().st_size / 2**20, "mask": seg.stat().st_size / 2**20},
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "simpleitk": sitk.Version_VersionString(),
        "nibabel": nib.__version__,
        "numpy": np.__version__,
        "targets": TARGETS,
        **measure(args, ct, seg, workdir),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"CT {'x'.join(map(str, shape))} int16 at {SPACING} mm, stored LPS -> RAS {TARGET} mm, {os.cpu_count()} CPUs\n"
    )
    print(table(results))
    loads = [m["outside_load_cores"] + m["steal_cores"] for m in results["methods"].values()]
    if max(loads) > 0.15:
        print(
            f"warning: other processes used up to {max(loads):.2f} cores meanwhile; rerun when quiet"
        )
    return results


if __name__ == "__main__":
    main()
