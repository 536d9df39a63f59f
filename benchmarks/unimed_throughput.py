"""Throughput of the whole `kedro run --pipelines unimed`, as a ratio to the best one-process
Pillow loop timed in the same run on the same files; and the peak memory of ingesting
Quilt-1M's and LLaVA-Med's big index files.

Why: absolute images/s depend on the machine, so the run is compared with what one
process can do at best on the same files: a reduced-size JPEG decode (`draft`), one resize
of the shorter side to 512, JPEG q95, in each source's colour mode (`unimed.normalize`).
The raw tree is UniMed's sample data (`python -m unimed_kedro.sampledata --collection
unimed`) scaled up: rows of its index files are replicated under new ids into the same
files, in the same official layouts, each replica a copy of a sample image with light noise
(distinct bytes, or the pipeline's cross-source dedup would drop it): grayscale
radiographs (CheXpert, NIH, RadImageNet) and RGB tiles (Quilt, fundus, PMC-OA and ROCOv2
figures). The readers' memory is measured in a child process each, on a synthetic
1M-row Quilt lookup and a 500k-entry LLaVA-Med alignment JSON.

    python benchmarks/unimed_throughput.py [--n 3000] [--rounds 1] [--workdir DIR]
        [--out FILE] [--quilt-rows 1000000] [--llava-entries 500000] [--sizes real]

With `--sizes real` (the default) each replica is its template resized (LANCZOS, centre
crop to the aspect ratio) to a size typical of its real source (`REAL_SIZE`), so the run
and the loop decode images of realistic weight; `--sizes sample` keeps the sample writers'
sizes (mostly 224-420 px).

With `--rounds R`, the Pillow loop and the kedro run are timed R times, back to back in
pairs, and the ratio is the median of the per-pair ratios (normalize_throughput.py: this
VM's speed drifts by 10-20% within minutes).
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import time
import zlib
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import PIL
import yaml
from PIL import Image, ImageOps, JpegImagePlugin

# Reused, not copied: project copy, Monitor, result, phases, the Pillow steps, rounds in
# pairs, trash handling; the frozen code copy (benchmarks/ is no package).
sys.path.insert(0, str(Path(__file__).resolve().parent))
import normalize_throughput as nt  # noqa: E402
import real_index_scale as ris  # noqa: E402
from unimed_kedro import sampledata  # noqa: E402
from unimed_kedro.imaging.normalize import process_one  # noqa: E402
from unimed_kedro.imaging.options import NormalizeOptions  # noqa: E402
from unimed_kedro.pipelines.unimed.pipeline import SOURCES  # noqa: E402
from unimed_kedro.sampledata import generate_unimed  # noqa: E402
from unimed_kedro.sampledata.unimed.quilt import HEADER as QUILT_HEADER  # noqa: E402
from unimed_kedro.sources.registry import entry  # noqa: E402

COLLECTION = "unimed"
CONF = nt.REPO / "conf" / "base"
# Share of the replicated images per source: grayscale radiographs (CheXpert-small JPEGs,
# NIH 1024 px PNGs, RadImageNet 224 px PNGs) and RGB JPEGs (Quilt tiles, fundus photos,
# PMC-OA and ROCOv2 figures), each at the size the sample writer gives it.
MIX = {
    "chexpert": 0.20,
    "nih": 0.05,
    "radimagenet": 0.20,
    "quilt_1m": 0.20,
    "retina": 0.10,
    "pmc_oa": 0.13,
    "rocov2": 0.12,
}
# (width, height) of a replica with `--sizes real`, per source: a size typical of the real
# files (portrait templates get it turned to portrait); None keeps the template's size,
# which the sample writer already makes the real one.
REAL_SIZE: dict[str, tuple[int, int] | None] = {
    "chexpert": None,  # CheXpert-v1.0-small: ~320x390 (downsized by Stanford), as written
    "nih": None,  # NIH ChestX-ray14: 1024x1024 PNGs, as written
    "radimagenet": None,  # RadImageNet: 224x224 PNGs, as written
    # Quilt: YouTube frames, 720p assumed (the sample lookup's height/width; unconfirmed)
    "quilt_1m": (1280, 720),
    # fundus: EyePACS "low hundreds to low thousands" px (IOVS 2018), ODIR "varied" (Canon,
    # Zeiss, Kowa; OIA-ODIR README); MM-Retinal's book figures: size unconfirmed
    "retina": (2048, 1536),
    "pmc_oa": (640, 512),  # PMC-OA subfigures: crops of PMC figures (size unconfirmed)
    "rocov2": (800, 640),  # ROCOv2 PMC figures: ~225 KB each (HF: 13.5 GB / 59,962 train)
}
NOISE_SIGMA = 1.0  # grey levels of noise added to each replica: distinct bytes
PNG_LEVEL = {"nih": 1, "radimagenet": 9}  # as the sample writers save them
RAW_FORMAT = 1  # bump when the generated tree changes, so an old one is not reused
TARGET = 1.5  # the issue's acceptance: kedro >= 1.5x pillow-best on 2 cores
QUILT_IMAGE_SHARE = 0.65  # ~650k distinct images in Quilt-1M's 1,017,712 rows
LLAVA_REPEATED = 0.01  # share of alignment entries naming an image named before
SYNTH_FORMAT = 1

# Run by the ingest-memory child: only the reader and its imports are loaded. Existence
# checks of the (absent) images are stubbed, in this process only: `os.path.isfile` is
# True under `<root>/<images>/`; the symbolic-link check's `os.lstat` still runs.
CHILD_READ = """
import json, os, sys, time
from collections import Counter
from pathlib import Path
import yaml
from unimed_kedro.sources.registry import entry
from unimed_kedro.sampledata.unimed.quilt import HEADER as QUILT_HEADER

def status(key):  # VmRSS / VmHWM (peak) of this process's memory since exec, in MB
    with open("/proc/self/status") as handle:
        line = next(line for line in handle if line.startswith(key + ":"))
    return round(int(line.split()[1]) / 1024, 1)

name, root, images, conf = sys.argv[1:5]
vocabulary = yaml.safe_load(Path(conf).read_text())["cxr"]["vocabulary"]
source = entry(name).open(Path(root), vocabulary)
isfile, prefix = os.path.isfile, os.path.join(os.path.abspath(root), images) + os.sep
os.path.isfile = lambda path: os.fspath(path).startswith(prefix) or isfile(path)
before, peak_before = status("VmRSS"), status("VmHWM")
start = time.perf_counter()
tables = source.read()
seconds = time.perf_counter() - start
print(json.dumps({
    "records": len(tables.manifest),
    "rejects": dict(Counter(tables.rejects["reason"])),
    "held_out_val": int((tables.manifest["official_split"] == "val").sum()),
    "read_s": round(seconds, 2),
    "rss_before_read_mb": before,
    "peak_rss_before_read_mb": peak_before,
    "peak_rss_mb": status("VmHWM"),
}))
"""


# --- the raw tree (untimed) -----------------------------------------------------------


def vocabulary() -> dict:
    return yaml.safe_load((CONF / "cxr" / "parameters.yml").read_text())["cxr"]["vocabulary"]


def normalize_options() -> NormalizeOptions:
    """`unimed.normalize` as the pipeline reads it: colour modes, thresholds."""
    params = yaml.safe_load((CONF / COLLECTION / "parameters.yml").read_text())
    return NormalizeOptions.from_params(params[COLLECTION]["normalize"])


def read_manifests(raw: Path) -> dict[str, pd.DataFrame]:
    """Every source's manifest as ingest reads it (the pipeline's own readers): the
    records whose image the run will decode."""
    vocab = vocabulary()
    return {
        name: entry(name).open(raw / entry(name).folder, vocab).read().manifest
        for name in SOURCES
        if (raw / entry(name).folder).is_dir()
    }


def decoded_files(manifests: dict[str, pd.DataFrame]) -> list[tuple[str, str]]:
    """(source, raw_relpath) of every image the run decodes, in source order."""
    return [(name, rel) for name, m in manifests.items() for rel in m["raw_relpath"]]


def apportion(total: int, weights: dict[str, float]) -> dict[str, int]:
    """`total` split by `weights` (largest remainders)."""
    exact = {k: total * w / sum(weights.values()) for k, w in weights.items()}
    counts = {k: int(v) for k, v in exact.items()}
    for k in sorted(exact, key=lambda k: counts[k] - exact[k])[: total - sum(counts.values())]:
        counts[k] += 1
    return counts


def templates(raw: Path, name: str, manifest: pd.DataFrame, options: NormalizeOptions) -> list:
    """The sample images a source's replicas copy: training records (no evaluation split)
    whose image the pipeline keeps (`process_one` says ok), stored as L or RGB."""
    folder = raw / entry(name).folder
    kept = []
    for rel, split in zip(manifest["raw_relpath"], manifest["official_split"]):
        if not (pd.isna(split) or split == "train"):
            continue
        if name == "retina" and not rel.startswith(f"{RETINA_TABLE}/"):
            continue  # the one table whose rows are (image, caption)
        _, row = process_one(str(folder / rel), name, options)
        if row.get("status") == "ok" and row.get("orig_mode") in ("L", "RGB"):
            kept.append(rel)
    if not kept:
        raise RuntimeError(f"{name}: no sample image to replicate")
    return kept


def replicas(rels: list[str], count: int) -> Iterator[tuple[str, int]]:
    """(template, replica number k >= 1) for `count` replicas, round robin."""
    for i in range(count):
        yield rels[i % len(rels)], i // len(rels) + 1


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.reader(handle))


def append_csv(path: Path, rows: list[list[str]]) -> None:
    """Rows appended after the file's last line, as the writers wrote it."""
    with open(path, "a", newline="", encoding="utf-8") as handle:
        csv.writer(handle, lineterminator="\n").writerows(rows)


def append_lines(path: Path, lines: list[str]) -> None:
    with open(path, "a", encoding="utf-8") as handle:
        handle.writelines(f"{line}\n" for line in lines)


def renumber(text: str, pattern: str, k: int, stride: int, width: int) -> str:
    """`text` with the first number that `pattern`'s group 1 matches raised by k * stride."""
    match = re.search(pattern, text)
    number = f"{int(match.group(1)) + k * stride:0{width}d}"
    return text[: match.start(1)] + number + text[match.end(1) :]


Job = tuple[str, str, int]  # template file, replica file, PNG compression level


def scale_chexpert(folder: Path, rels: list[str], count: int) -> list[Job]:
    """train.csv rows (and UniMed's caption rows) of new patients: patientN + k * 100000."""
    prefix = folder.name
    rows = {row[0]: row for row in read_csv(folder / "train.csv")[1:] if row}
    captions_file = folder / "chexpert_with_captions_only_frontal_view.csv"
    captions = {row[0]: row for row in read_csv(captions_file)[1:] if row}
    new_rows, new_captions, jobs = [], [], []
    for rel, k in replicas(rels, count):
        new = renumber(rel, r"patient(\d+)", k, 100_000, 5)
        new_rows.append([f"{prefix}/{new}", *rows[f"{prefix}/{rel}"][1:]])
        caption = captions.get(str([f"{prefix}/{rel}"]))
        if caption:
            new_captions.append([str([f"{prefix}/{new}"]), *caption[1:]])
        jobs.append((str(folder / rel), str(folder / new), 6))
    append_csv(folder / "train.csv", new_rows)
    append_csv(captions_file, new_captions)
    return jobs


def scale_nih(folder: Path, rels: list[str], count: int) -> list[Job]:
    """Data_Entry rows of new patients (Patient ID + k * 1000) in `images_0NN/images/`
    (10,000 a folder from images_003), listed in train_val_list.txt."""
    entries = folder / "Data_Entry_2017_v2020.csv"
    lines = entries.read_text().splitlines()
    rows = {row[0]: row for row in csv.reader(lines[1:]) if row}
    new_rows, names, jobs = [], [], []
    for i, (rel, k) in enumerate(replicas(rels, count)):
        name = rel.rsplit("/", 1)[1]
        new = renumber(name, r"^(\d{8})_", k, 1000, 8)
        row = list(rows[name])
        row[0], row[3] = new, str(int(new[:8]))
        new_rows.append(row)
        names.append(new)
        jobs.append(
            (str(folder / rel), str(folder / f"images_{3 + i // 10_000:03d}/images/{new}"), 1)
        )
    append_csv(entries, new_rows)
    append_lines(folder / "train_val_list.txt", names)
    return jobs


def scale_radimagenet(folder: Path, rels: list[str], count: int) -> list[Job]:
    """RadiologyAI_train.csv rows of new files in the same class folders (number + k * 1000)."""
    rows = {}
    for row in read_csv(folder / "RadiologyAI_train.csv")[1:]:
        if len(row) == 2:
            rel = row[0] if row[0].startswith("radiology_ai/") else f"radiology_ai/{row[0]}"
            rows.setdefault(rel, row)
    new_rows, jobs = [], []
    for rel, k in replicas(rels, count):
        new = renumber(rel, r"(\d+)\.png$", k, 1000, 6)
        new_rows.append([new, rows[rel][1]])
        jobs.append((str(folder / rel), str(folder / new), 9))
    append_csv(folder / "RadiologyAI_train.csv", new_rows)
    return jobs


def scale_quilt(folder: Path, rels: list[str], count: int) -> list[Job]:
    """Every lookup row of each template image again, naming a new image: the path's last
    8 hex digits replaced by k (a new uuid tail), the index column numbered on."""
    table = read_csv(folder / "quilt_1M_lookup.csv")
    by_image: dict[str, list[list[str]]] = {}
    for row in table[1:]:
        if len(row) == len(table[0]):
            by_image.setdefault(row[2], []).append(row)
    index = len(table) - 1
    seen = set(by_image)
    new_rows, jobs = [], []
    for rel, k in replicas(rels, count):
        part, name = rel.rsplit("/", 1)
        new = f"{name[:-12]}{k:08x}.jpg"
        if new in seen:
            raise RuntimeError(f"quilt: replica name {new} taken")
        seen.add(new)
        for row in by_image[name]:
            new_rows.append([str(index), row[1], new, *row[3:]])
            index += 1
        jobs.append((str(folder / rel), str(folder / part / new), 6))
    append_csv(folder / "quilt_1M_lookup.csv", new_rows)
    return jobs


RETINA_TABLE = "39_MM_Retinal_dataset"


def scale_retina(folder: Path, rels: list[str], count: int) -> list[Job]:
    """MM-Retinal's (image, caption) rows of new fundus photographs (cfp_N + k * 1000)."""
    path = folder / "Retina-Annotations" / f"{RETINA_TABLE}.csv"
    rows = {}
    for row in read_csv(path)[1:]:
        if len(row) == 2:
            rel = row[0] if row[0].startswith(f"{RETINA_TABLE}/") else f"{RETINA_TABLE}/{row[0]}"
            rows.setdefault(rel, row)
    new_rows, jobs = [], []
    for rel, k in replicas(rels, count):
        new = renumber(rel, r"cfp_(\d+)\.jpg$", k, 1000, 4)
        new_rows.append([new, rows[rel][1]])
        jobs.append((str(folder / rel), str(folder / new), 6))
    append_csv(path, new_rows)
    return jobs


def scale_pmc_oa(folder: Path, rels: list[str], count: int) -> list[Job]:
    """pmc_oa.jsonl lines of each template subfigure again (every subcaption), naming a
    new article: PMC id + k * 10,000,000."""
    by_image: dict[str, list[dict]] = {}
    for line in (folder / "pmc_oa.jsonl").read_text(encoding="utf-8").splitlines():
        try:
            value = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(value, dict) and "image" in value:
            by_image.setdefault(value["image"], []).append(value)
    lines, jobs = [], []
    for rel, k in replicas(rels, count):
        images, name = rel.rsplit("/", 1)
        new = renumber(name, r"^PMC(\d+)", k, 10_000_000, 1)
        lines += [json.dumps({**value, "image": new}) for value in by_image[name]]
        jobs.append((str(folder / rel), str(folder / images / new), 6))
    append_lines(folder / "pmc_oa.jsonl", lines)
    return jobs


def scale_rocov2(folder: Path, rels: list[str], count: int) -> list[Job]:
    """train_captions.csv and both concepts tables' rows of new IDs (number + k * 100)."""
    tables = ("train_captions.csv", "train_concepts.csv", "train_concepts_manual.csv")
    by_id = [{row[0]: row for row in read_csv(folder / t)[1:] if len(row) == 2} for t in tables]
    new_rows: list[list[list[str]]] = [[] for _ in tables]
    jobs = []
    for rel, k in replicas(rels, count):
        split, name = rel.rsplit("/", 1)
        new = renumber(name, r"_(\d+)\.jpg$", k, 100, 6)
        for rows, table in zip(new_rows, by_id):
            if name[:-4] in table:
                rows.append([new[:-4], *table[name[:-4]][1:]])
        jobs.append((str(folder / rel), str(folder / split / new), 6))
    for table, rows in zip(tables, new_rows):
        append_csv(folder / table, rows)
    return jobs


SCALERS: dict[str, Callable[[Path, list[str], int], list[Job]]] = {
    "chexpert": scale_chexpert,
    "nih": scale_nih,
    "radimagenet": scale_radimagenet,
    "quilt_1m": scale_quilt,
    "retina": scale_retina,
    "pmc_oa": scale_pmc_oa,
    "rocov2": scale_rocov2,
}


Variant = tuple[str, str, int, tuple[int, int] | None]  # a Job and the replica's size


def fitted(image: Image.Image, size: tuple[int, int] | None) -> Image.Image:
    """`image` resized with LANCZOS to `size` (turned if the template is the other way
    round), centre-cropped to its aspect ratio; itself when `size` is None."""
    if size is None:
        return image
    width, height = size
    if (image.width - image.height) * (width - height) < 0:  # square keeps `size`
        width, height = height, width
    return ImageOps.fit(image, (width, height), Image.Resampling.LANCZOS)


def write_variant(job: Variant) -> None:
    """The template image, at the replica's size (`fitted`), with N(0, NOISE_SIGMA)
    noise seeded by the replica's path, in the template's format: a JPEG with its
    quantization tables and subsampling (so its quality), a PNG at the writer's
    compression level."""
    src, dst, level, size = job
    rng = np.random.default_rng(zlib.crc32(dst.encode()))
    with Image.open(src) as image:
        pixels = np.asarray(fitted(image, size), dtype=np.float32)
        pixels += rng.normal(0, NOISE_SIGMA, pixels.shape).astype(np.float32)
        variant = Image.fromarray(np.clip(pixels + 0.5, 0, 255).astype(np.uint8))
        buffer = io.BytesIO()
        if image.format == "JPEG":
            variant.save(
                buffer,
                "JPEG",
                qtables=image.quantization,
                subsampling=JpegImagePlugin.get_sampling(image),
            )
        else:
            variant.save(buffer, "PNG", compress_level=level)
    Path(dst).parent.mkdir(parents=True, exist_ok=True)
    Path(dst).write_bytes(buffer.getvalue())


def sha256(path: str) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def sample_code() -> str:
    """Digest of the sample data generator's code: a tree made by another version of it
    is not reused."""
    digest = hashlib.sha256()
    for path in sorted(Path(sampledata.__file__).parent.rglob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def build_raw(raw: Path, n: int, sizes: str = "real") -> dict:
    """`raw/`: the unimed sample data, then replicas until the run decodes ~n images, at
    the sample's sizes or the real sources' (`sizes`); reused when complete and made by
    the same code and sizes. Returns the generation summary (its `.complete.json`)."""
    marker = raw / ".complete.json"
    target = {k: REAL_SIZE[k] if sizes == "real" else None for k in MIX}
    key = {
        "format": RAW_FORMAT,
        "n": n,
        "sample_code": sample_code(),
        "sizes": sizes,
        "replica_sizes": {k: list(v) if v else None for k, v in target.items()},
    }
    if marker.is_file():
        summary = json.loads(marker.read_text())
        if all(summary.get(k) == v for k, v in key.items()):
            return summary
    shutil.rmtree(raw, ignore_errors=True)
    start = time.perf_counter()
    generate_unimed(raw, seed=0)
    manifests = read_manifests(raw)
    sample = len(decoded_files(manifests))
    counts = apportion(max(0, n - sample), MIX)
    options = normalize_options()
    jobs: list[Variant] = []
    templates_by_source = {}
    for name, count in counts.items():
        if count:
            rels = templates(raw, name, manifests[name], options)
            templates_by_source[name] = len(rels)
            scaled = SCALERS[name](raw / entry(name).folder, rels, count)
            jobs += [(*job, target[name]) for job in scaled]
    context = multiprocessing.get_context("fork")  # the module may not be importable by name
    with context.Pool(os.cpu_count()) as pool:
        pool.map(write_variant, jobs, chunksize=16)
        # every replica's bytes are its own: no copy of another file of the tree
        files = decoded_files(read_manifests(raw))
        paths = [str(raw / entry(s).folder / rel) for s, rel in files]
        digests = dict(zip(paths, pool.map(sha256, paths, chunksize=64)))
    copies = Counter(digests.values())
    shared = [dst for _, dst, _, _ in jobs if copies[digests[dst]] > 1]
    if shared:
        raise RuntimeError(f"{len(shared)} replicas are byte copies of other files: {shared[:3]}")
    summary = {
        **key,
        "sample_images": sample,
        "replicas": counts,
        "templates": templates_by_source,
        "images": len(files),
        "sample_duplicate_groups": sum(1 for c in copies.values() if c > 1),
        "generation_s": round(time.perf_counter() - start, 1),
    }
    marker.write_text(json.dumps(summary, indent=2) + "\n")
    return summary


def raw_files(raw: Path) -> list[Path]:
    return sorted(p for p in raw.rglob("*") if p.is_file())


# --- the two timed methods ------------------------------------------------------------


def pillow_best(path: Path, mode: str) -> bytes:
    """The per-core limit on one file: DCT-scaled JPEG decode (`draft`) straight into the
    source's colour mode, an integer box reduce then LANCZOS to the shorter side 512 only
    if still larger, JPEG q95 (normalize_throughput's steps). A file that does not decode
    (the sample's corrupt ones, which the pipeline reads too) gives nothing."""
    try:
        with Image.open(path) as image:
            image.draft(mode, (nt.SHORT_SIDE, nt.SHORT_SIDE))
            image = image.convert(mode)
            factor = min(image.size) // nt.SHORT_SIDE
            if factor >= 2:
                image = image.reduce(factor)
            return nt.encode_jpeg(nt.shrink(image))
    except (OSError, ValueError, SyntaxError):
        return b""


def decoded_by_run(project: Path) -> list[tuple[str, str]]:
    """(source, raw_relpath) of every image the run decoded: stored or rejected by normalize."""
    features = project / "data" / "04_feature" / COLLECTION
    stored = pd.read_parquet(features / "normalized.parquet", columns=["source", "raw_relpath"])
    rejected = pd.read_parquet(features / "normalize_rejects.parquet", columns=["source", "file"])
    return list(zip(stored["source"], stored["raw_relpath"])) + list(
        zip(rejected["source"], rejected["file"])
    )


def time_kedro(project: Path, raw: Path, files: list[tuple[str, str]], log_path: Path) -> dict:
    """Wall clock of the whole `kedro run --pipelines unimed` subprocess from an empty
    data/ (nt.time_kedro's protocol: the previous run's outputs moved aside, page cache
    warmed, the process tree's RSS sampled); checks it decoded exactly `files`."""
    params = {"raw_root": str(raw.resolve())}
    seconds, monitor, started_at = nt.run_kedro_timed(
        project, COLLECTION, params, raw_files(raw), log_path
    )
    decoded = Counter(decoded_by_run(project))
    if decoded != Counter(files):
        diff = sorted((decoded - Counter(files)) + (Counter(files) - decoded))[:5]
        raise RuntimeError(f"kedro decoded other files than the Pillow loop: {diff} ...")
    stats = json.loads((project / "data/08_reporting" / COLLECTION / "statistics.json").read_text())
    exported = int(stats["exported"])
    timeline = nt.phases(log_path, started_at, seconds)
    # seconds of each node, from the previous completion to its own (sequential runner)
    node_s = {row["node"]: row["seconds"] for row in ris.per_node(timeline, [], seconds)}
    return nt.result(
        len(files),
        seconds,
        monitor,
        exported=exported,
        exported_per_s=exported / seconds,
        held_out=int(stats["held_out"]),
        rejected=int(stats["rejected"]),
        **timeline,
        node_s=node_s,
    )


def measure(args: argparse.Namespace, workdir: Path, raw: Path, files: list) -> dict[str, dict]:
    """pillow-best then kedro, `--rounds` times in back-to-back pairs (never at once)."""
    modes = normalize_options()
    paths = [raw / entry(s).folder / rel for s, rel in files]
    mode_of = {path: modes.mode_of(s) for path, (s, _) in zip(paths, files)}
    shard = workdir / f"shards-{args.n}" / "pillow-best.tar"
    nt.empty_trash(workdir)  # before any timing: deletions slow later file creation
    project = ris.freeze_code(nt.prepare_project(workdir))
    pairs = []
    for _ in range(max(1, args.rounds)):
        pair = {"pillow-best": nt.time_loop(lambda p: pillow_best(p, mode_of[p]), paths, shard)}
        kedro = time_kedro(project, raw, files, workdir / f"kedro-{args.n}.log")
        # the normalize node alone (decode, resize, encode on all cores) against the loop
        normalize_s = kedro["node_s"][f"{COLLECTION}.normalize_images"]
        kedro["normalize_node_s"] = normalize_s
        kedro["normalize_node_ratio"] = pair["pillow-best"]["wall_s"] / normalize_s
        pair["unimed-kedro"] = kedro
        pairs.append(pair)
    nt.retire(project, workdir)  # thousands of files: deleted after the last timing
    nt.empty_trash(workdir)
    return {name: nt.median_round(pairs, name) for name in pairs[0]}


# --- ingest memory: the two streamed readers at full size -----------------------------

QUILT_SUBSETS = (("quilt", 0.70), ("pubmed", 0.15), ("openpath", 0.08), ("laion", 0.07))
TISSUES = (
    "invasive ductal carcinoma of the breast",
    "normal colonic mucosa with goblet cells",
    "caseating granulomatous inflammation",
    "well differentiated squamous cell carcinoma",
    "benign fibroadenoma with compressed ducts",
    "clear cell renal cell carcinoma",
    "chronic lymphocytic thyroiditis",
    "a tubular adenoma with low grade dysplasia",
)
PHRASES = (
    "H&E section showing {t} with scattered lymphocytes and a fibrotic stroma",
    "High power view of {t}; note the nuclear pleomorphism and frequent mitoses",
    "Here we see {t}, a classic pattern that you should recognise at low power",
    "This is {t}; the architecture is preserved but the cells are crowded",
)
SITES = (
    "in the upper left of the field",
    "at the edge of the biopsy",
    "next to a small vessel",
    "around the central lumen",
)
FILLER = (
    "and um you can see these cells here are a little bit bigger than the ones over there",
    "so if we zoom in a little you will notice the chromatin is kind of coarse and clumped",
    "and this is something that I always tell the residents to look for on the frozen",
    "now let me move over to this area where the changes are a lot more obvious to see",
)


def _quilt_names(rng: np.random.Generator, images: int) -> tuple[list[str], np.ndarray]:
    """Distinct `image_path`s: `<video>_image_<uuid>.jpg` (about 100 a video) for the
    YouTube subset, `<subset>_<24 hex>.jpg` for the others; and each image's subset."""
    weights = np.array([w for _, w in QUILT_SUBSETS])
    subset = rng.choice(len(QUILT_SUBSETS), size=images, p=weights / weights.sum())
    hexes = rng.bytes(16 * images).hex()
    alphabet = np.array(list("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"))
    videos = ["".join(v) for v in alphabet[rng.integers(0, 64, size=(images // 100 + 1, 11))]]
    names = []
    for i in range(images):
        h = hexes[32 * i : 32 * i + 32]
        if subset[i] == 0:
            uuid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
            names.append(f"{videos[i // 100]}_image_{uuid}.jpg")
        else:
            names.append(f"{QUILT_SUBSETS[subset[i]][0]}_{h[:24]}.jpg")
    return names, subset


def write_quilt(folder: Path, rows: int, seed: int = 0) -> dict:
    """`Quilt/quilt_1M_lookup.csv` of `rows` rows over ~0.65 x rows distinct images (each
    once, the rest repeat one at random; shuffled), Quilt's thirteen columns as pandas
    wrote them; 2% of the images val, 0.2% of the captions empty. No image is written."""
    rng = np.random.default_rng(seed)
    images = max(1, round(rows * QUILT_IMAGE_SHARE))
    owner = np.concatenate([np.arange(images), rng.integers(0, images, rows - images)])
    rng.shuffle(owner)
    names, subset = _quilt_names(rng, images)
    val = rng.random(images) < 0.02
    picks = rng.integers(0, 8, size=(rows, 5))
    empty = rng.random(rows) < 0.002
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "quilt_1m").mkdir(exist_ok=True)
    with open(folder / "quilt_1M_lookup.csv", "w", newline="", buffering=1 << 20) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["", *HEADER_QUILT])
        for i in range(rows):
            image = owner[i]
            t, p, s, f, g = picks[i]
            tissue = TISSUES[t]
            caption = "" if empty[i] else f"{PHRASES[p % 4].format(t=tissue)}, {SITES[s % 4]}."
            noisy = f"so this is {tissue} {FILLER[f % 4]}\n{FILLER[g % 4]}"
            writer.writerow(
                [
                    i,
                    caption,
                    names[image],
                    QUILT_SUBSETS[subset[image]][0],
                    "val" if val[image] else "train",
                    str([tissue.split()[-1]]),
                    str([tissue]),
                    noisy,
                    noisy.replace("\n", " ").capitalize(),
                    str(["C0007124", "C0027651"]),
                    "" if f < 3 else str(g % 4),
                    "720",
                    "1280",
                ]
            )
    return {"rows": rows, "images": images, "val_images": int(val.sum())}


HEADER_QUILT = tuple(QUILT_HEADER[1:])  # the lookup without pandas' index column
PROMPTS = (
    "<image>\nProvide a brief description of the given image.",
    "<image>\nDescribe the image concisely.",
    "<image>\nSummarize the visual content of the image.",
    "Give a short and clear explanation of the subsequent image.\n<image>",
)
SENTENCES = (
    "Axial contrast-enhanced CT of the abdomen shows a hypodense lesion in segment VII of the liver.",
    "The lesion measures 3.2 cm and demonstrates peripheral nodular enhancement (arrow).",
    "Hematoxylin and eosin staining (original magnification x200) shows sheets of atypical cells.",
    "Immunohistochemistry was strongly positive for cytokeratin and negative for CD45.",
    "T2-weighted MR image demonstrates a hyperintense mass involving the left temporal lobe.",
    "Chest radiograph at admission shows bilateral patchy opacities in the lower zones.",
    "Follow-up imaging after six weeks of treatment shows partial resolution of the findings.",
    "Bar graph showing the mean expression level in treated and control groups (mean +/- SD).",
    "Kaplan-Meier curves of overall survival stratified by the expression of the marker.",
    "Ultrasound image showing a well-circumscribed anechoic cyst with posterior enhancement.",
    "Coronal reconstruction demonstrates the relationship of the mass to the adjacent vessels.",
    "Scale bar, 50 um. Arrowheads indicate the infiltrating lymphocytes at the tumour margin.",
)


def write_llava(folder: Path, entries: int, seed: int = 0) -> dict:
    """`llava_med/llava_med_alignment_500k_filtered.json`: a JSON array of `entries`
    {"id", "image", "conversations"} entries, one a line (the sample's layout), captions
    of 4-7 sentences (~550 characters, so 500k entries make ~360 MB as the real file);
    1% of the entries name an image named before. No image is written."""
    rng = np.random.default_rng(seed)
    images = entries - round(entries * LLAVA_REPEATED)
    owner = np.concatenate([np.arange(images), rng.integers(0, images, entries - images)])
    rng.shuffle(owner)
    figures = ("F1", "F2", "fig3", "g004", "F5", "fig1")
    lengths = rng.integers(4, 8, size=entries)
    picks = rng.integers(0, len(SENTENCES), size=(entries, 7))
    prompts = rng.integers(0, len(PROMPTS), size=entries)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir(exist_ok=True)
    path = folder / "llava_med_alignment_500k_filtered.json"
    with open(path, "w", encoding="utf-8", buffering=1 << 20) as handle:
        handle.write("[\n")
        for i in range(entries):
            image = int(owner[i])
            stem = f"{10_000_000 + image // 3}_{figures[image % 3 + (image % 2) * 3]}"
            caption = " ".join(SENTENCES[j] for j in picks[i, : lengths[i]])
            turns = [
                {"from": "human", "value": PROMPTS[prompts[i]]},
                {"from": "gpt", "value": caption},
            ]
            value = {"id": stem, "image": f"{stem}.jpg", "conversations": turns}
            handle.write(("" if i == 0 else ",\n") + json.dumps(value))
        handle.write("\n]\n")
    return {"entries": entries, "images": images}


def synthetic(workdir: Path, kind: str, size: int) -> tuple[Path, dict]:
    """The source folder of a synthetic index (`quilt` rows or `llava` entries), made once
    and reused (its `.complete.json`)."""
    name, folder_name, write = {
        "quilt": ("quilt_1m", "Quilt", write_quilt),
        "llava": ("llava_med_alignment", "llava_med", write_llava),
    }[kind]
    folder = workdir / "ingest-memory" / f"{kind}-{size}" / folder_name
    marker = folder / ".complete.json"
    if marker.is_file() and json.loads(marker.read_text()).get("format") == SYNTH_FORMAT:
        return folder, json.loads(marker.read_text())
    shutil.rmtree(folder, ignore_errors=True)
    start = time.perf_counter()
    facts = {"format": SYNTH_FORMAT, "source": name, **write(folder, size)}
    facts["generation_s"] = round(time.perf_counter() - start, 1)
    marker.write_text(json.dumps(facts, indent=2) + "\n")
    return folder, facts


def warm(path: Path) -> None:
    """The index file into the page cache, a chunk at a time (never whole in memory)."""
    with open(path, "rb") as handle:
        while handle.read(1 << 24):
            pass


def ingest_memory(workdir: Path, kind: str, size: int) -> dict:
    """Peak RSS (the child's VmHWM: `ru_maxrss` would count the forked parent's pages from
    before exec) and wall time of the registry reader's
    `read()` on the synthetic index, alone in a child process."""
    folder, facts = synthetic(workdir, kind, size)
    name, images = facts["source"], {"quilt": "quilt_1m", "llava": "images"}[kind]
    index = next(p for p in folder.iterdir() if p.suffix in (".csv", ".json"))
    warm(index)
    command = [
        sys.executable,
        "-c",
        CHILD_READ,
        name,
        str(folder),
        images,
        str(CONF / "cxr/parameters.yml"),
    ]
    start = time.perf_counter()
    done = subprocess.run(
        command, env={**os.environ, **nt.QUIET_ENV}, capture_output=True, text=True
    )
    if done.returncode != 0:
        raise RuntimeError(f"{name} read failed:\n{done.stderr[-3000:]}")
    read = json.loads(done.stdout.strip().splitlines()[-1])
    if read["rejects"].get("missing_file"):
        raise RuntimeError(f"{name}: the existence stub did not hold: {read['rejects']}")
    return {
        **{k: v for k, v in facts.items() if k != "format"},
        "index_file": index.name,
        "index_mb": round(index.stat().st_size / 2**20, 1),
        "child_wall_s": round(time.perf_counter() - start, 2),
        "existence_checks": f"os.path.isfile stubbed True under {folder.name}/{images}/ in the "
        "child only (no image files); the symbolic-link check's os.lstat still runs",
        **read,
    }


# --- report ---------------------------------------------------------------------------


def table(results: dict) -> str:
    lines = [
        "| method | images | images/s | × pillow-best | wall s | exported/s | peak RSS MB |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, m in results["methods"].items():
        exported = f"{m['exported_per_s']:.1f}" if "exported_per_s" in m else ""
        lines.append(
            f"| {name} | {m['images']} | {m['images_per_s']:.1f} "
            f"| {m['ratio_to_pillow_best']:.2f} | {m['wall_s']:.2f} | {exported} "
            f"| {m['peak_rss_mb']:.0f} |"
        )
    kedro = results["methods"]["unimed-kedro"]
    lines.append(
        f"\nunimed-kedro's normalize node alone: {kedro['normalize_node_s']:.2f} s, "
        f"x {kedro['normalize_node_ratio']:.2f} pillow-best (same pair); the rest of the run "
        f"(startup, ingest, caption, select, export, reports, shutdown): "
        f"{kedro['wall_s'] - kedro['normalize_node_s']:.2f} s"
    )
    if len(kedro["rounds_ratio"]) > 1:
        lines.append(
            f"rounds: pillow-best {results['methods']['pillow-best']['rounds_images_per_s']} "
            f"images/s; unimed-kedro {kedro['rounds_images_per_s']} images/s, "
            f"x {kedro['rounds_ratio']}"
        )
    if results["ingest_memory"]:
        lines += [
            "",
            "| reader | index | rows/entries | records | index MB | read s | peak RSS MB "
            "| RSS before read MB |",
            "|---|---|---:|---:|---:|---:|---:|---:|",
        ]
        for name, m in results["ingest_memory"].items():
            size = m.get("rows", m.get("entries"))
            lines.append(
                f"| {name} | {m['index_file']} | {size:,} | {m['records']:,} | {m['index_mb']} "
                f"| {m['read_s']} | {m['peak_rss_mb']:.0f} | {m['rss_before_read_mb']:.0f} |"
            )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--n", type=int, default=3000, help="images the run decodes (sample data + replicas)"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="time pillow-best and kedro this many times, in pairs"
    )
    parser.add_argument("--workdir", type=Path, default=nt.REPO / "benchmarks" / "out" / "unimed")
    parser.add_argument(
        "--out", type=Path, default=nt.REPO / "benchmarks" / "out" / "unimed-throughput.json"
    )
    parser.add_argument(
        "--quilt-rows", type=int, default=1_000_000, help="Quilt lookup rows to ingest (0: skip)"
    )
    parser.add_argument(
        "--llava-entries",
        type=int,
        default=500_000,
        help="LLaVA-Med alignment entries to ingest (0: skip)",
    )
    parser.add_argument(
        "--sizes",
        choices=("sample", "real"),
        default="real",
        help="replicas at the sample writers' sizes or at their real sources' (REAL_SIZE)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    workdir = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    raw = workdir / f"raw-{args.n}-{args.sizes}"
    generation = build_raw(raw, args.n, args.sizes)
    files = decoded_files(read_manifests(raw))
    modes = normalize_options()
    total_bytes = nt.warm_page_cache([raw / entry(s).folder / rel for s, rel in files])
    methods = measure(args, workdir, raw, files)
    base = methods["pillow-best"]["images_per_s"]
    for m in methods.values():
        m["ratio_to_pillow_best"] = m.get("pair_ratio", m["images_per_s"] / base)
    ratio = methods["unimed-kedro"]["ratio_to_pillow_best"]
    memory = {}
    for kind, size in (("quilt", args.quilt_rows), ("llava", args.llava_entries)):
        if size > 0:
            read = ingest_memory(workdir, kind, size)
            memory[read["source"]] = read
    results = {
        "n": args.n,
        "sizes": args.sizes,
        "images": len(files),
        "by_source": dict(Counter(s for s, _ in files)),
        "colour_modes": dict(Counter(modes.mode_of(s) for s, _ in files)),
        "mean_input_kb": total_bytes / len(files) / 1024,
        "raw": generation,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "ratio_to_pillow_best": ratio,
        "target_ratio": TARGET,
        "meets_target": ratio >= TARGET,
        "methods": methods,
        "ingest_memory": memory,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    gray = results["colour_modes"].get("L", 0)
    print(
        f"{len(files)} images ({gray} grayscale, {len(files) - gray} RGB; "
        f"{results['mean_input_kb']:.0f} KB mean, {args.sizes} sizes), {os.cpu_count()} CPUs; "
        f"unimed-kedro / pillow-best {ratio:.2f} (target {TARGET})\n\n{table(results)}"
    )
    for name, m in methods.items():
        if m["outside_load_cores"] + m["steal_cores"] > 0.15:
            print(
                f"warning: {name}: other processes used {m['outside_load_cores']:.2f} and "
                f"the host stole {m['steal_cores']:.2f} cores meanwhile; rerun when quiet"
            )
    if len(files) > args.n:
        print(f"warning: the sample data alone has {len(files)} images, more than --n {args.n}")
    return results


if __name__ == "__main__":
    main()
