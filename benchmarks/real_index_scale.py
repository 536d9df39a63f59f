"""The `cxr` build at real scale, from the real official index files (issue 18).

Why: the sample data has tens of records; the real CheXpert-v1.0-small, NIH ChestX-ray14
and OpenI indexes have 343,004 images, with their real id schemes, value mixes, patients
and folder fan-out. torchxrayvision's wheel ships those index files (chexpert_train.csv.gz,
Data_Entry_2017_v2020.csv.gz, NLMCXR_reports.tgz), so the build can be timed on the real
record set without the licensed images: each record gets a tiny distinct generated image.
What this measures is the per-sample cost of the pipeline itself (tables, chunks, shards,
the files layout, the parent's memory), not decode/resize (normalize_throughput.py).

    python benchmarks/real_index_scale.py [--fraction 1.0] [--replicate 1]
        [--wheel PATH] [--workdir DIR] [--keep-project]

`--replicate K` repeats every index row K times under new ids, paths and patients (K=3 on
the full indexes gives ~1M samples: how does the kedro parent's memory grow?). The raw
tree (`<workdir>/raw-f<F>-k<K>/`) is generated once and reused; the index rows live only
under the workdir (git-ignored): their licences forbid committing them.
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import multiprocessing
import os
import re
import shutil
import subprocess
import sys
import tarfile
import time
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

import numpy as np
import psutil
import yaml
from PIL import Image

# Reused, not copied: project copy, Monitor, phases, trash handling (benchmarks/ is no package).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import normalize_throughput as nt  # noqa: E402
from unimed_kedro.sources.registry import entry  # noqa: E402

WHEEL_SPEC = "torchxrayvision==1.5.7"
MEMBERS = {
    "chexpert": "torchxrayvision/data/chexpert_train.csv.gz",
    "nih": "torchxrayvision/data/Data_Entry_2017_v2020.csv.gz",
    "openi": "torchxrayvision/data/NLMCXR_reports.tgz",
}
COLLECTION = "cxr"
# Replica k adds k * STRIDE to every patient / report number: real ones stay below
# (CheXpert patient64740, NIH patient 30805, OpenI report 3999), so ids never collide.
STRIDE = 1_000_000
# Generated films: 64 px squares, ~0.3 KB PNG / ~0.7 KB JPEG, so 1M of them stay cheap to
# write and decode; the validation thresholds are lowered to fit (VALIDATION), instead of
# writing 512 px / 20 KB NIH films (~30 GB for 1M samples).
SIDE = 64
VALIDATION = {"min_side": 32, "min_bytes": 200}
JPEG_QUALITY = 90
NIH_PER_FOLDER = 10_000  # Kaggle's images_0NN/images/ fan-out
NIH_TEST_SHARE = 25_596 / 112_120  # the official test_list.txt's share of images
RAW_FORMAT = 1  # bump when the generated tree changes, so an old one is not reused

_RAW: Path | None = None  # set in each generator worker (fork: inherited, not pickled)
_IMAGES: list[str] = []
_GRADIENT: np.ndarray | None = None


@dataclass
class Indexes:
    """The three official index files as the wheel holds them: CSV lines (no quoting in
    either file, so lines are split on commas and written back byte for byte) and XMLs."""

    chexpert_header: str
    chexpert_rows: list[str]
    nih_header: str
    nih_rows: list[str]
    openi_reports: list[tuple[int, str]]  # (report number, XML text), in the reader's order


@dataclass
class Layout:
    """A raw tree to write: text files and one image per record, relative to raw_root."""

    files: dict[str, str] = field(default_factory=dict)
    images: list[str] = field(default_factory=list)
    records: dict[str, int] = field(default_factory=dict)  # samples per source


# --- the index files ------------------------------------------------------------------


def fetch_wheel(wheel: Path | None, workdir: Path) -> Path:
    """The given wheel, or torchxrayvision's from PyPI (`pip download --no-deps`: no torch),
    kept in workdir for later runs."""
    if wheel is not None:
        return wheel.resolve()
    found = sorted(workdir.glob("torchxrayvision-1.5.7-*.whl"))
    if not found:
        command = [sys.executable, "-m", "pip", "download", "--no-deps", WHEEL_SPEC]
        subprocess.run([*command, "-d", str(workdir), "--quiet"], check=True)
        found = sorted(workdir.glob("torchxrayvision-1.5.7-*.whl"))
    return found[-1]


def _csv_lines(archive: zipfile.ZipFile, member: str) -> tuple[str, list[str]]:
    text = gzip.decompress(archive.read(member)).decode("utf-8")
    if '"' in text:  # the split-on-commas below relies on it
        raise ValueError(f"{member}: quoted CSV fields; expected none")
    header, *rows = text.splitlines()
    return header, [row for row in rows if row]


def _openi_reports(archive: zipfile.ZipFile, member: str) -> list[tuple[int, str]]:
    reports = []
    with tarfile.open(fileobj=io.BytesIO(archive.read(member))) as tar:
        for info in tar.getmembers():
            name = Path(info.name)
            if info.isfile() and name.parent.name == "ecgen-radiology" and name.suffix == ".xml":
                reports.append((int(name.stem), tar.extractfile(info).read().decode("utf-8")))
    return sorted(reports)  # the reader's order: numeric


def read_indexes(wheel: Path) -> Indexes:
    with zipfile.ZipFile(wheel) as archive:
        chexpert = _csv_lines(archive, MEMBERS["chexpert"])
        nih = _csv_lines(archive, MEMBERS["nih"])
        openi = _openi_reports(archive, MEMBERS["openi"])
    return Indexes(*chexpert, *nih, openi)


def head(items: list, fraction: float) -> list:
    """The first `fraction` of an index, in its own order."""
    return items[: round(len(items) * fraction)]


# --- the raw tree ---------------------------------------------------------------------

_CHEXPERT_PATIENT = re.compile(r"/patient(\d+)/")
_OPENI_ID = re.compile(r"CXR(\d+)")


def chexpert_layout(indexes: Indexes, fraction: float, replicate: int, layout: Layout) -> None:
    """train.csv, and the film at every row's Path (its dataset-folder prefix dropped, as
    the reader does)."""
    folder = entry("chexpert").folder
    rows = head(indexes.chexpert_rows, fraction)
    lines = [indexes.chexpert_header]
    for k in range(replicate):
        for row in rows:
            path, _, rest = row.partition(",")
            if k:
                path = _CHEXPERT_PATIENT.sub(
                    lambda m, k=k: f"/patient{int(m[1]) + k * STRIDE:05d}/", path, count=1
                )
            lines.append(f"{path},{rest}")
            layout.images.append(f"{folder}/{path.partition('/')[2]}")
    layout.files[f"{folder}/train.csv"] = "\n".join(lines) + "\n"
    layout.records["chexpert"] = len(lines) - 1


def nih_layout(indexes: Indexes, fraction: float, replicate: int, layout: Layout) -> None:
    """Data_Entry_2017_v2020.csv (header verbatim: its bracketed commas), the PNGs in
    Kaggle's images_0NN/images/, and patient-disjoint train_val/test lists."""
    folder = entry("nih").folder
    rows = head(indexes.nih_rows, fraction)
    lines = [indexes.nih_header]
    names, patients = [], []
    for k in range(replicate):
        for row in rows:
            fields = row.split(",")
            patient = int(fields[3]) + k * STRIDE
            fields[0] = f"{patient:08d}_{fields[0].partition('_')[2]}"  # <pid:08d>_<nnn>.png
            fields[3] = str(patient)
            lines.append(",".join(fields))
            names.append(fields[0])
            patients.append(patient)
    for i, name in enumerate(names):
        layout.images.append(f"{folder}/images_{i // NIH_PER_FOLDER + 1:03d}/images/{name}")
    layout.files[f"{folder}/Data_Entry_2017_v2020.csv"] = "\n".join(lines) + "\n"
    test = _nih_test_patients(patients)
    for list_name, in_test in (("train_val_list.txt", False), ("test_list.txt", True)):
        chosen = sorted(n for n, p in zip(names, patients) if (p in test) == in_test)
        layout.files[f"{folder}/{list_name}"] = "".join(f"{n}\n" for n in chosen)
    layout.records["nih"] = len(names)


def _nih_test_patients(patients: list[int]) -> set[int]:
    """The official lists are not in the wheel: whole patients, in a fixed pseudo-random
    order, go to test until it holds the official test list's share of images."""
    counts: dict[int, int] = {}
    for patient in patients:
        counts[patient] = counts.get(patient, 0) + 1
    test: set[int] = set()
    taken, target = 0, NIH_TEST_SHARE * len(patients)
    for patient in sorted(counts, key=lambda p: (zlib.crc32(str(p).encode()), p)):
        if taken >= target:
            break
        test.add(patient)
        taken += counts[patient]
    return test


def openi_layout(indexes: Indexes, fraction: float, replicate: int, layout: Layout) -> None:
    """ecgen-radiology/<n>.xml and a PNG per <parentImage> in NLMCXR_png/; a replica
    renumbers CXR<n> everywhere in the report (uId, image ids, urls) and its file."""
    folder = entry("openi").folder
    images = 0
    for k in range(replicate):
        for number, xml in head(indexes.openi_reports, fraction):
            if k:
                xml = _OPENI_ID.sub(lambda m, k=k: f"CXR{int(m[1]) + k * STRIDE}", xml)
            layout.files[f"{folder}/ecgen-radiology/{number + k * STRIDE}.xml"] = xml
            for image in re.findall(r'<parentImage id="([^"]+)"', xml):
                layout.images.append(f"{folder}/NLMCXR_png/{image}.png")
                images += 1
    layout.records["openi"] = images


def plan(indexes: Indexes, fraction: float, replicate: int) -> Layout:
    if not 0 < fraction <= 1 or replicate < 1:
        raise ValueError(
            f"expected 0 < fraction <= 1 and replicate >= 1, got {fraction}, {replicate}"
        )
    if replicate > 1:  # renumbered ids must not meet real ones
        assert all(n < STRIDE for n, _ in indexes.openi_reports)
        assert all(int(r.split(",")[3]) < STRIDE for r in indexes.nih_rows)
    layout = Layout()
    for source_layout in (chexpert_layout, nih_layout, openi_layout):
        source_layout(indexes, fraction, replicate, layout)
    return layout


def film(index: int) -> np.ndarray:
    """A gradient (it passes the contrast checks) whose first four 8x8 blocks hold the
    index's bytes: distinct pixels per record, and block-aligned so JPEG keeps them
    distinct too (identical raw bytes would group records as exact duplicates)."""
    global _GRADIENT
    if _GRADIENT is None:
        y, x = np.mgrid[0:SIDE, 0:SIDE]
        _GRADIENT = ((x + y) * (255 / (2 * SIDE - 2))).astype(np.uint8)
    pixels = _GRADIENT.copy()
    for k, byte in enumerate(index.to_bytes(4, "big")):
        pixels[0:8, 8 * k : 8 * k + 8] = byte
    return pixels


def _init_worker(raw: Path, images: list[str]) -> None:
    global _RAW, _IMAGES
    _RAW, _IMAGES = raw, images


def _write_images(span: tuple[int, int]) -> int:
    for index in range(*span):
        path = _RAW / _IMAGES[index]
        path.parent.mkdir(parents=True, exist_ok=True)
        image = Image.fromarray(film(index))
        if path.suffix == ".jpg":
            image.save(path, "JPEG", quality=JPEG_QUALITY)
        else:  # fastest zlib level: generation time, not file size, matters here
            image.save(path, "PNG", compress_level=1)
    return span[1] - span[0]


def build_raw(layout: Layout, raw: Path, wheel: Path, workdir: Path) -> float | None:
    """Write the raw tree (images in parallel); reused when its marker says it is complete
    and the same. Returns the seconds it took, or None when reused."""
    marker = raw.with_name(raw.name + ".complete.json")
    key = {
        "format": RAW_FORMAT,
        "wheel": wheel.name,
        "wheel_bytes": wheel.stat().st_size,
        "records": layout.records,
        "side": SIDE,
    }
    if marker.is_file() and raw.is_dir() and json.loads(marker.read_text()) == key:
        return None
    start = time.perf_counter()
    marker.unlink(missing_ok=True)
    nt.retire(raw, workdir)  # an incomplete or stale tree: deleted with the trash
    n, step = len(layout.images), 2000
    context = multiprocessing.get_context("fork")  # the module may not be importable by name
    with context.Pool(os.cpu_count(), _init_worker, (raw, layout.images)) as pool:
        spans = [(i, min(i + step, n)) for i in range(0, n, step)]
        assert sum(pool.imap_unordered(_write_images, spans)) == n
    for rel, text in layout.files.items():
        (raw / rel).parent.mkdir(parents=True, exist_ok=True)
        (raw / rel).write_text(text, encoding="utf-8")
    marker.write_text(json.dumps(key, indent=2) + "\n")
    return time.perf_counter() - start


def raw_files(raw: Path) -> Iterator[Path]:
    """Every file of the tree, without holding a million paths at once."""
    for folder, _, names in os.walk(raw):
        for name in names:
            yield Path(folder, name)


# --- the run --------------------------------------------------------------------------


def validation_overrides() -> dict[str, object]:
    """`--params` pairs lowering min_side / min_bytes for the default and every per-source
    entry of the collection's validation (the generated films are 64 px, < 1 KB)."""
    conf = yaml.safe_load((nt.REPO / f"conf/base/{COLLECTION}/parameters.yml").read_text())
    validation = conf[COLLECTION]["normalize"]["validation"]
    prefix = f"{COLLECTION}.normalize.validation"
    scopes = ["default", *(f"per_source.{s}" for s in validation.get("per_source") or {})]
    return {f"{prefix}.{scope}.{k}": v for scope in scopes for k, v in VALIDATION.items()}


class NodeMonitor(nt.Monitor):
    """normalize_throughput's Monitor (peak RSS of the whole tree, outside load), also
    keeping a series of (seconds after launch, kedro's own RSS, tree RSS), so that each
    peak can be put on the node running then (the log's completion timeline)."""

    def __init__(self, pid: int, launched: float) -> None:
        super().__init__(pid)
        self.parent = psutil.Process(pid)
        self.launched = launched
        self.series: list[tuple[float, int, int]] = []

    def _sample(self) -> int:
        tree = super()._sample()
        try:
            own = self.parent.memory_info().rss
        except psutil.Error:  # exited
            own = 0
        self.series.append((time.perf_counter() - self.launched, own, tree))
        return tree


def freeze_code(project: Path) -> Path:
    """The package's code copied into the project's src/, which Kedro puts first on the
    path (workers inherit it): both runs execute the same code even while src/ is being
    edited meanwhile (the venv's install is editable), so the rerun is a no-change one."""
    package = nt.REPO / "src" / "unimed_kedro"
    ignore = shutil.ignore_patterns("__pycache__")
    shutil.copytree(package, project / "src" / package.name, ignore=ignore)
    return project


def run_kedro(project: Path, params: dict[str, object], log_path: Path) -> dict:
    """Wall clock and memory of one `kedro run --pipelines cxr` on whatever data/ holds.
    Not nt.time_kedro: that one empties data/ first, which a no-change rerun must not."""
    command = [str(nt.kedro_executable()), "run", "--pipelines", COLLECTION, "--params"]
    command.append(",".join(f"{key}={value}" for key, value in params.items()))
    env = {**os.environ, **nt.QUIET_ENV, "KEDRO_LOGGING_CONFIG": str(project / "logging.yml")}
    os.sync()  # the previous run's files must not be flushed during this one
    with open(log_path, "wb") as log:
        started_at, start = datetime.now(), time.perf_counter()
        process = subprocess.Popen(
            command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        with NodeMonitor(process.pid, start) as monitor:
            code = process.wait()
        seconds = time.perf_counter() - start
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"kedro run failed ({code}); see {log_path}:\n" + "\n".join(tail))
    timeline = nt.phases(log_path, started_at, seconds)
    parent_peak = max(own for _, own, _ in monitor.series)
    return {
        "wall_s": round(seconds, 3),
        "peak_parent_rss_mb": round(parent_peak / 2**20, 1),
        "peak_tree_rss_mb": round(monitor.peak / 2**20, 1),
        "peak_tree_pss_mb": round(monitor.peak_pss / 2**20, 1),
        "parent_rss_at_startup_mb": round(_rss_at(monitor.series, timeline) / 2**20, 1),
        "outside_load_cores": round(monitor.outside_cores, 3),
        "steal_cores": round(monitor.steal_cores, 3),
        **timeline,
        "nodes": per_node(timeline, monitor.series, seconds),
        "jobs": engine_lines(log_path),
    }


def _rss_at(series: list[tuple[float, int, int]], timeline: dict) -> int:
    """kedro's own RSS when it loaded its first dataset: its footprint before any data."""
    at = timeline.get("startup_s", 0.0)
    return max((own for t, own, _ in series if t <= at), default=0)


def per_node(timeline: dict, series: list[tuple[float, int, int]], wall: float) -> list[dict]:
    """Seconds and peak RSS (kedro alone, whole tree) of each phase: startup, every node
    from the previous completion to its own (the sequential runner runs one at a time;
    loading its inputs and saving its outputs included), shutdown."""
    done = sorted(timeline.get("node_done_at_s", {}).items(), key=lambda item: item[1])
    bounds = [("startup", timeline.get("startup_s", 0.0)), *done, ("shutdown", wall)]
    rows, begin = [], 0.0
    for name, end in bounds:
        inside = [(own, tree) for t, own, tree in series if begin < t <= end]
        rows.append(
            {  # None: over between two samples (0.05 s apart)
                "node": name,
                "seconds": round(end - begin, 3),
                "parent_peak_mb": _mb(max((own for own, _ in inside), default=None)),
                "tree_peak_mb": _mb(max((tree for _, tree in inside), default=None)),
            }
        )
        begin = end
    return rows


def _mb(rss: int | None) -> float | None:
    return None if rss is None else round(rss / 2**20, 1)


_ENGINE = re.compile(r"^\S+ \S+ \S+ unimed_kedro\.engine\.jobs: (.*)$")


def engine_lines(log_path: Path) -> list[str]:
    """The engine's one line per job ("normalize: 1 of 1 chunks up to date, 0 to build"):
    what a run rebuilt and what it reused."""
    lines = log_path.read_text(errors="replace").splitlines()
    return [m.group(1) for line in lines if (m := _ENGINE.match(line))]


# --- report ---------------------------------------------------------------------------


def summarise(layout: Layout, first: dict, rerun: dict, statistics: dict) -> dict:
    exported = int(statistics["exported"])
    return {
        "samples": exported,
        "wall_s": first["wall_s"],
        "samples_per_s": round(exported / first["wall_s"], 1),
        "rerun_wall_s": rerun["wall_s"],
        "peak_parent_rss_mb": first["peak_parent_rss_mb"],
        "peak_tree_rss_mb": first["peak_tree_rss_mb"],
        "parent_rss_kb_per_sample": round(first["peak_parent_rss_mb"] * 1024 / exported, 2),
        "parent_rss_above_startup_kb_per_sample": round(
            (first["peak_parent_rss_mb"] - first["parent_rss_at_startup_mb"]) * 1024 / exported, 2
        ),
        "planned": layout.records,
    }


def table(results: dict) -> str:
    s, first, rerun = results["summary"], results["first_run"], results["rerun"]
    lines = [
        "| samples | wall s | samples/s | no-change rerun s | peak parent RSS MB "
        "| peak tree RSS MB | parent RSS KB/sample (above startup) |",
        "|---:|---:|---:|---:|---:|---:|---:|",
        f"| {s['samples']} | {s['wall_s']:.1f} | {s['samples_per_s']:.1f} "
        f"| {s['rerun_wall_s']:.1f} | {s['peak_parent_rss_mb']:.0f} | {s['peak_tree_rss_mb']:.0f} "
        f"| {s['parent_rss_kb_per_sample']:.2f} ({s['parent_rss_above_startup_kb_per_sample']:.2f}) |",
        "",
        "| phase | s | parent peak MB | tree peak MB | rerun s | rerun parent peak MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    again = {row["node"]: row for row in rerun["nodes"]}
    for row in first["nodes"]:
        other = again.get(row["node"], {})
        cells = [
            row["seconds"],
            row["parent_peak_mb"],
            row["tree_peak_mb"],
            other.get("seconds"),
            other.get("parent_peak_mb"),
        ]
        lines.append(f"| {row['node']} | " + " | ".join(map(_cell, cells)) + " |")
    return "\n".join(lines + ["", "rerun: " + "; ".join(rerun["jobs"])])


def _cell(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fraction", type=float, default=1.0, help="first F of each index")
    parser.add_argument(
        "--replicate", type=int, default=1, help="every row K times, under new ids (K=3: ~1M)"
    )
    parser.add_argument(
        "--wheel", type=Path, help=f"a {WHEEL_SPEC} wheel (default: pip download into workdir)"
    )
    parser.add_argument("--workdir", type=Path, default=nt.REPO / "benchmarks/out/real-index")
    parser.add_argument(
        "--no-warm",
        action="store_true",
        help="skip the page-cache warm-ups (at 1M each reads 7 GB of small files: over half "
        "an hour here); both runs then read what the VM has evicted from disk",
    )
    parser.add_argument(
        "--keep-project",
        action="store_true",
        help="keep <workdir>/project-f<F>-k<K> (its data/) after the runs instead of deleting it",
    )
    return parser.parse_args(argv)


def measure(args: argparse.Namespace, workdir: Path, raw: Path) -> tuple[dict, dict, dict]:
    """The first run from an empty data/, then the same command again, nothing changed;
    the raw tree's page cache warmed before each (this VM evicts idle page cache) unless
    `--no-warm`."""
    nt.empty_trash(workdir)  # before any timing: deletions slow later file creation
    project = freeze_code(nt.prepare_project(workdir, project_name(args)))
    params = {"raw_root": str(raw), **validation_overrides()}
    name = f"kedro-f{args.fraction:g}-k{args.replicate}"
    if not args.no_warm:
        nt.warm_page_cache(raw_files(raw))  # any iterable of paths does
    first = run_kedro(project, params, workdir / f"{name}.log")
    # kept should the rerun be stopped: at 1M its page-cache warm-up alone can take an hour
    (workdir / f"{name}-first-run.json").write_text(json.dumps(first, indent=2) + "\n")
    statistics = json.loads(
        (project / f"data/08_reporting/{COLLECTION}/statistics.json").read_text()
    )
    if not args.no_warm:
        nt.warm_page_cache(raw_files(raw))
    rerun = run_kedro(project, params, workdir / f"{name}-rerun.log")
    return first, rerun, statistics


def project_name(args: argparse.Namespace) -> str:
    """A project folder per fraction and replication: a small run never replaces the
    project a large one kept."""
    return f"project-f{args.fraction:g}-k{args.replicate}"


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    wheel = fetch_wheel(args.wheel, workdir)
    layout = plan(read_indexes(wheel), args.fraction, args.replicate)
    raw = workdir / f"raw-f{args.fraction:g}-k{args.replicate}"
    generation_s = build_raw(layout, raw, wheel, workdir)
    first, rerun, statistics = measure(args, workdir, raw)
    results = {
        "fraction": args.fraction,
        "replicate": args.replicate,
        "wheel": wheel.name,
        "cpu_count": os.cpu_count(),
        "image": {"side": SIDE, "chexpert": "JPEG", "others": "PNG", "validation": VALIDATION},
        "page_cache_warmed": not args.no_warm,
        "raw_generation_s": None if generation_s is None else round(generation_s, 1),
        "summary": summarise(layout, first, rerun, statistics),
        "statistics": statistics,
        "first_run": first,
        "rerun": rerun,
    }
    text = json.dumps(results, indent=2) + "\n"
    (workdir / "real-index-scale.json").write_text(text)
    (workdir / f"real-index-scale-f{args.fraction:g}-k{args.replicate}.json").write_text(text)
    print(f"{len(layout.images)} records, {os.cpu_count()} CPUs\n\n{table(results)}")
    warn(results, len(layout.images))
    if not args.keep_project:  # millions of files: deleted now, not before the next timing
        project = workdir / project_name(args)
        print(f"deleting {project} (--keep-project keeps it)", flush=True)
        nt.retire(project, workdir)
        nt.empty_trash(workdir)
    return results


def warn(results: dict, planned: int) -> None:
    for name in ("first_run", "rerun"):
        run = results[name]
        if run["outside_load_cores"] + run["steal_cores"] > 0.15:
            print(
                f"warning: {name}: other processes used {run['outside_load_cores']:.2f} and "
                f"the host stole {run['steal_cores']:.2f} cores meanwhile"
            )
    if results["summary"]["samples"] != planned:
        print(f"warning: {results['summary']['samples']} of {planned} records exported; rejects:")
        for source, stats in results["statistics"]["sources"].items():
            print(f"  {source}: {stats.get('rejected_by_reason')}")


if __name__ == "__main__":
    main()
