"""Throughput of the CXR normalize+export path, as ratios to baselines timed in the same run.

Why: absolute images/s depend on the machine (cores, CPU, disk, page cache), so a number
alone says little. Each run times, on the same generated CheXpert-small-like files and with
the page cache warmed, (a) the best single-process Pillow loop (reduced-size decode, one
resize, one encode: the per-core limit), (b) a naive seed-style loop, and (c) the
real `kedro run --pipelines cxr` end to end on all cores, and reports each as a multiple of
(a). The same run on Dask (a LocalCluster, then a real scheduler + 2 workers) and img2dataset,
the tool users would otherwise pick, are timed the same way. Peak RSS is the summed RSS of
the measured process trees, sampled every 0.05 s; the CPU other processes used meanwhile is
recorded too, since it skews every row on a shared box.

    python benchmarks/normalize_throughput.py [--n 2000] [--rounds 1] [--workdir DIR]
        [--skip-naive] [--skip-kedro] [--skip-dask] [--skip-img2dataset]

With `--rounds R`, the pillow-best loop and the kedro run are timed R times, back to back
in pairs, and the kedro ratio is the median of the per-pair ratios: on a shared VM the
host's speed drifts by 10-20% within minutes, and a pair timed minutes apart carries that
drift into the ratio.
"""

from __future__ import annotations

import argparse
import csv
import functools
import http.server
import io
import json
import multiprocessing
import os
import platform
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from urllib.parse import quote

import numpy as np
import PIL
import psutil
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
DATASET = "CheXpert-v1.0-small"
HEADER = [
    "Path",
    "Sex",
    "Age",
    "Frontal/Lateral",
    "AP/PA",
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
]
ROW_TAIL = ["Female", "60", "Frontal", "PA", "", "", "1.0"] + [""] * 11
SIZE, BASE_SIDE, NOISE_SIGMA = 1024, 1100, 1.0  # generated films: ~210-240 KB at q95
BASE_MARGIN = 76  # the base's shorter side exceeds a film's by this much: crops differ
SHORT_SIDE, QUALITY = 512, 95  # as conf/base/cxr/parameters.yml
SAMPLE_INTERVAL = 0.05
PSS_INTERVAL, PSS_NEAR_PEAK = 0.5, 0.9  # PSS: every 0.5 s at most, at >= 90% of the RSS peak
QUIET_ENV = {"DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1", "DVC_NO_ANALYTICS": "1"}
# Plain log lines with millisecond timestamps (Kedro's rich default has 1 s resolution and
# wraps at 80 columns), so time per node can be read from the log.
LOGGING_YML = """\
version: 1
disable_existing_loggers: false
formatters:
  plain: {format: "%(asctime)s %(levelname)s %(name)s: %(message)s"}
handlers:
  console: {class: logging.StreamHandler, level: INFO, formatter: plain, stream: ext://sys.stdout}
loggers:
  kedro: {level: INFO}
root: {handlers: [console]}
"""

IMG2DATASET = "img2dataset==1.47.0"  # flags below checked against this version's --help
# Our normalize+export settings in img2dataset's terms. `area` is what our resize does for
# an integer factor (Image.reduce, a box average; 1024 -> 512 here). No EXIF (we keep none);
# sha256 of the downloaded bytes, as our index has of the raw file. Shards are its unit of
# parallelism: fewer than processes_count shards leave processes idle.
IMG2DATASET_FLAGS: dict[str, object] = {
    "output_format": "webdataset",
    "image_size": SHORT_SIDE,
    "resize_mode": "keep_ratio",
    "resize_only_if_bigger": True,
    "downscale_interpolation": "area",
    "encode_format": "jpg",
    "encode_quality": QUALITY,
    "number_sample_per_shard": 1000,
    "thread_count": 16,
    "extract_exif": False,
    "compute_hash": "sha256",
    "enable_wandb": False,
    "retries": 0,
}
# albumentations (imported by img2dataset) asks pypi.org for a newer version unless told
# not to; urllib would send even 127.0.0.1 through a configured proxy.
OFFLINE_ENV = {"NO_ALBUMENTATIONS_UPDATE": "1", "no_proxy": "127.0.0.1", "NO_PROXY": "127.0.0.1"}
DASK_WORKERS = 2

_BASE: np.ndarray | None = None  # the base film, set in each generator worker


# --- input generation (untimed) -------------------------------------------------------


def base_radiograph(side: int = SIZE) -> np.ndarray:
    """pydicom-data's RG1_UNCI.dcm (MONOCHROME1, uint16; 1841 px on its shorter side) as
    an 8-bit film 1100 px on its shorter side, or larger for films over 1024 px."""
    try:
        import pydicom
        from pydicom.data import get_testdata_file

        pixels = pydicom.dcmread(get_testdata_file("RG1_UNCI.dcm")).pixel_array
        pixels = pixels.max() - pixels.astype(np.float32)  # MONOCHROME1: bright = low
    except Exception:  # pydicom-data missing: a smooth synthetic chest-like film instead
        yy, xx = np.mgrid[0:1955, 0:1841].astype(np.float32)
        lungs = sum(
            np.exp(-((((xx - cx) / 330) ** 2 + ((yy - 980) / 620) ** 2) ** 2)) for cx in (560, 1280)
        )
        rng = np.random.default_rng(0)
        pixels = 900 + 2200 * (1 - lungs) + rng.normal(0, 60, xx.shape).astype(np.float32)
    low, high = np.percentile(pixels, [0.5, 99.5])
    film = Image.fromarray(np.clip((pixels - low) * (255 / (high - low)), 0, 255).astype(np.uint8))
    scale = max(BASE_SIDE, side + BASE_MARGIN) / min(film.size)
    film = film.resize(
        (round(film.width * scale), round(film.height * scale)), Image.Resampling.LANCZOS
    )
    return np.asarray(film)


def relpaths(n: int) -> list[str]:
    """CheXpert-style paths, 1-3 frontal views per patient, patients numbered in order."""
    rng = np.random.default_rng(0)
    paths: list[str] = []
    patient = 0
    while len(paths) < n:
        patient += 1
        for k in range(min(int(rng.integers(1, 4)), n - len(paths))):
            paths.append(
                f"train/patient{patient:05d}/study{k // 2 + 1}/view{k % 2 + 1}_frontal.jpg"
            )
    return paths


def _init_worker(base: np.ndarray) -> None:
    global _BASE
    _BASE = base


def _write_film(job: tuple[int, str, int]) -> None:
    """One film: a seeded random `side`² crop of the base plus mild noise, JPEG q95."""
    index, path, side = job
    rng = np.random.default_rng(index)
    top = int(rng.integers(0, _BASE.shape[0] - side + 1))
    left = int(rng.integers(0, _BASE.shape[1] - side + 1))
    crop = _BASE[top : top + side, left : left + side].astype(np.float32)
    crop += rng.normal(0, NOISE_SIGMA, crop.shape).astype(np.float32)
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.clip(crop, 0, 255).astype(np.uint8)).save(path, "JPEG", quality=QUALITY)


def generate(raw: Path, n: int, side: int = SIZE) -> list[Path]:
    """`raw/CheXpert-v1.0-small/{train.csv,train/...}` with n films of `side`² px; reused
    if complete."""
    root = raw / DATASET
    rels = relpaths(n)
    files = [root / rel for rel in rels]
    if (root / "train.csv").is_file() and sum(1 for _ in root.rglob("*.jpg")) == n:
        return files
    shutil.rmtree(raw, ignore_errors=True)
    context = multiprocessing.get_context("fork")  # the module may not be importable by name
    with context.Pool(os.cpu_count(), _init_worker, (base_radiograph(side),)) as pool:
        pool.map(_write_film, [(i, str(f), side) for i, f in enumerate(files)], chunksize=16)
    with open(root / "train.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        writer.writerows([f"{DATASET}/{rel}", *ROW_TAIL] for rel in rels)
    return files


def warm_page_cache(files: list[Path]) -> int:
    """An untimed read pass, before every method, so each starts from the page cache (this
    VM's DAMON pageout evicts page cache left idle, and a 20k round lasts minutes);
    returns bytes."""
    return sum(len(f.read_bytes()) for f in files)


# --- measurement ----------------------------------------------------------------------


def cpu_seconds() -> tuple[float, float, float]:
    """(CPU seconds the whole machine was busy, stolen by the hypervisor, and used by this
    process and its waited-for descendants): outside load = busy - own over a measurement."""
    machine = psutil.cpu_times()
    busy = machine.user + machine.nice + machine.system + machine.irq + machine.softirq
    own = os.times()
    return busy, machine.steal, own.user + own.system + own.children_user + own.children_system


class Monitor:
    """Peak summed RSS and peak summed PSS of one or more processes and all their
    descendants (sampled in a thread), and the CPU other processes or the host took
    meanwhile (in cores; above ~0.15 figures skew). Summed RSS counts a page shared after a
    fork once per sharer (the engine's forked walkers each showed the parent's ~140 MB);
    PSS divides it among them, so the tree's PSS is what it holds. Several roots: a Dask
    run's memory is the client's tree plus the scheduler's and workers'. The trees' own
    CPU is sampled per process too: forkserver workers are never reaped by the measured
    process, so `os.times()` alone misses them."""

    def __init__(self, *pids: int) -> None:
        self.peak = self.peak_pss = 0
        self._pss_due = 0.0
        self.outside_cores = self.steal_cores = 0.0
        self._roots = [psutil.Process(pid) for pid in pids]
        self._cpu_by_pid: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _processes(self) -> list[psutil.Process]:
        """Every process under the roots, each once; a root that has exited adds nothing."""
        procs: dict[int, psutil.Process] = {}
        for root in self._roots:
            try:
                procs.update((p.pid, p) for p in [root, *root.children(recursive=True)])
            except psutil.Error:
                pass
        return list(procs.values())

    def _sample(self) -> int:
        """Summed RSS now; also keeps the latest CPU seconds of every process in the trees
        and, near the RSS peak, the peak summed PSS (`_sample_pss`)."""
        total = 0
        procs = self._processes()
        for proc in procs:
            try:
                with proc.oneshot():
                    total += proc.memory_info().rss
                    cpu = proc.cpu_times()
                self._cpu_by_pid[proc.pid] = cpu.user + cpu.system
            except psutil.Error:  # a child that exited between listing and reading
                pass
        if total >= PSS_NEAR_PEAK * self.peak and time.perf_counter() >= self._pss_due:
            self._sample_pss(procs)
        return total

    def _sample_pss(self, procs: list[psutil.Process]) -> None:
        """The tree's summed PSS, read only near the RSS peak and at most every
        `PSS_INTERVAL`: `smaps_rollup` walks a process's page tables under its memory map
        lock, and read 20 times a second it took ~0.28 of a core and slowed the run."""
        pss = 0
        for proc in procs:
            try:
                pss += proportional_set_size(proc.pid)
            except OSError:  # exited
                pass
        self.peak_pss = max(self.peak_pss, pss)
        self._pss_due = time.perf_counter() + PSS_INTERVAL

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self._sample())
            self._stop.wait(SAMPLE_INTERVAL)

    def __enter__(self) -> Monitor:
        self.peak = self._sample()
        self._tree_cpu0 = sum(self._cpu_by_pid.values())
        self._cpu, self._start = cpu_seconds(), time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._sample())
        (busy0, steal0, own0), (busy1, steal1, own1) = self._cpu, cpu_seconds()
        wall = time.perf_counter() - self._start
        own = max(own1 - own0, sum(self._cpu_by_pid.values()) - self._tree_cpu0)
        self.outside_cores = max(0.0, (busy1 - busy0) - own) / wall
        self.steal_cores = (steal1 - steal0) / wall


def proportional_set_size(pid: int) -> int:
    """A process's PSS in bytes (`/proc/<pid>/smaps_rollup`, ~0.5 ms for 800 MB)."""
    with open(f"/proc/{pid}/smaps_rollup", "rb") as rollup:
        for line in rollup:
            if line.startswith(b"Pss:"):
                return int(line.split()[1]) * 1024
    return 0


def result(images: int, seconds: float, monitor: Monitor, **extra: object) -> dict:
    return {
        "images": images,
        "wall_s": seconds,
        "images_per_s": images / seconds,
        "peak_rss_mb": monitor.peak / 2**20,
        "peak_pss_mb": monitor.peak_pss / 2**20,
        "outside_load_cores": round(monitor.outside_cores, 3),
        "steal_cores": round(monitor.steal_cores, 3),
        **extra,
    }


def encode_jpeg(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=QUALITY)
    return buffer.getvalue()


def shrink(image: Image.Image) -> Image.Image:
    """Shorter side to SHORT_SIDE with LANCZOS, only if still larger."""
    scale = SHORT_SIDE / min(image.size)
    if scale >= 1:
        return image
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    return image.resize(size, Image.Resampling.LANCZOS)


def pillow_best(path: Path) -> bytes:
    """DCT-scaled decode (`draft`): 1024 px JPEGs come out of libjpeg at 512 px."""
    with Image.open(path) as image:
        image.draft("L", (SHORT_SIDE, SHORT_SIDE))
        return encode_jpeg(shrink(image.convert("L")))


def naive_seed(path: Path) -> bytes:
    """As the seed converters did: full decode, LANCZOS from full size."""
    return encode_jpeg(shrink(Image.open(path).convert("L")))


def time_loop(process: Callable[[Path], bytes], files: list[Path], shard: Path) -> dict:
    """One process: every file through `process`, appended to one USTAR tar shard."""
    shard.parent.mkdir(parents=True, exist_ok=True)
    warm_page_cache(files)
    with Monitor(os.getpid()) as monitor:
        start = time.perf_counter()
        with tarfile.open(shard, "w", format=tarfile.USTAR_FORMAT) as tar:
            for index, path in enumerate(files):
                data = process(path)
                info = tarfile.TarInfo(f"{index:06d}.jpg")
                info.size, info.mtime = len(data), 0
                tar.addfile(info, io.BytesIO(data))
        seconds = time.perf_counter() - start
    shard.unlink()
    return result(len(files), seconds, monitor)


# --- the real pipeline ----------------------------------------------------------------


def kedro_executable() -> Path:
    for venv in (Path(sys.prefix), REPO / ".venv"):
        if (venv / "bin" / "kedro").is_file():
            return venv / "bin" / "kedro"
    raise FileNotFoundError("no kedro in this interpreter's venv nor in .venv; `make install`")


def prepare_project(workdir: Path, name: str = "project") -> Path:
    """A throwaway project `<workdir>/<name>`: the repo's conf/ and pyproject.toml; code
    from the venv install. An empty src/ exists only because Kedro's bootstrap requires the
    source_dir; logging.yml (outside conf/) is the benchmark's log format."""
    project = workdir / name
    retire(project, workdir)
    shutil.copytree(REPO / "conf", project / "conf")
    shutil.copy2(REPO / "pyproject.toml", project / "pyproject.toml")
    (project / "src").mkdir()
    (project / "data").mkdir()
    (project / "logging.yml").write_text(LOGGING_YML)
    return project


def retire(path: Path, workdir: Path) -> None:
    """Move `path` into `<workdir>/trash/` rather than deleting it. On a journal-less ext4
    (this VM's), creating files within minutes of deleting tens of thousands makes each
    inode allocation scan the freed ones (ext4 `recently_deleted`), so a run would pay for
    the previous run's cleanup (benchmarks/README.md). The trash is emptied before the
    first timing and after the last."""
    if path.exists():
        trash = workdir / "trash"
        trash.mkdir(exist_ok=True)
        path.rename(trash / f"{path.name}-{time.time_ns()}")


def empty_trash(workdir: Path) -> None:
    shutil.rmtree(workdir / "trash", ignore_errors=True)
    os.sync()


def time_kedro(
    project: Path,
    raw: Path,
    n: int,
    log_path: Path,
    extra_params: dict[str, str] | None = None,
    also_monitor: tuple[int, ...] = (),
) -> dict:
    """Wall clock of the whole `kedro run --pipelines cxr` subprocess, from a fresh data/.
    `extra_params` are more `--params` pairs (dotted keys); `also_monitor` are pids of other
    process trees that work for the run (a Dask cluster), counted in the peak RSS."""
    params = {"raw_root": str(raw.resolve()), **(extra_params or {})}
    warm = sorted(p for p in raw.rglob("*") if p.is_file())
    seconds, monitor, started_at = run_kedro_timed(
        project, "cxr", params, warm, log_path, also_monitor
    )
    stats = json.loads((project / "data/08_reporting/cxr/statistics.json").read_text())
    exported = int(stats["exported"])
    assert exported == n, f"kedro exported {exported} of {n} images ({stats['rejected']} rejected)"
    return result(
        exported, seconds, monitor, exported=exported, **phases(log_path, started_at, seconds)
    )


def run_kedro_timed(
    project: Path,
    pipeline: str,
    params: dict[str, str],
    warm: list[Path],
    log_path: Path,
    also_monitor: tuple[int, ...] = (),
) -> tuple[float, Monitor, datetime]:
    """`kedro run --pipelines <pipeline>` from an empty data/ (the previous run's outputs
    moved aside, the files in `warm` in the page cache), its process tree's RSS sampled:
    the seconds, the monitor and when it started. A failed run raises with its log's tail."""
    retire(project / "data", project.parent)
    retire(project / ".viz", project.parent)  # every round a first run: kedro-viz's files too
    (project / "data").mkdir()
    os.sync()  # the previous run's ~60k files must not be flushed during this one
    warm_page_cache(warm)
    command = [str(kedro_executable()), "run", "--pipelines", pipeline, "--params"]
    command.append(",".join(f"{key}={value}" for key, value in params.items()))
    env = {**os.environ, **QUIET_ENV, "KEDRO_LOGGING_CONFIG": str(project / "logging.yml")}
    with open(log_path, "wb") as log:
        started_at, start = datetime.now(), time.perf_counter()
        process = subprocess.Popen(
            command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        with Monitor(process.pid, *also_monitor) as monitor:
            code = process.wait()
        seconds = time.perf_counter() - start
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"kedro run failed ({code}); see {log_path}:\n" + "\n".join(tail))
    return seconds, monitor, started_at


_LINE = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) \S+ \S+: (.*)$")


def phases(log_path: Path, started_at: datetime, wall: float) -> dict:
    """From the log: startup (launch to the first dataset load), the second after launch at
    which each node completed (a timeline: nodes may run concurrently), and shutdown."""
    stamps: list[tuple[datetime, str]] = []
    for line in log_path.read_text(errors="replace").splitlines():
        if match := _LINE.match(line):
            when = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S,%f")
            stamps.append((when, match.group(2)))
    loads = [t for t, message in stamps if message.startswith("Loading data from")]
    if not loads:
        return {}
    done = {
        message.removeprefix("Completed node: ").strip(): round(
            (when - started_at).total_seconds(), 3
        )
        for when, message in stamps
        if message.startswith("Completed node: ")
    }
    return {
        "startup_s": round((loads[0] - started_at).total_seconds(), 3),
        "node_done_at_s": done,
        "shutdown_s": round(wall - max(done.values(), default=0.0), 3),
    }


# --- Dask -----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop(processes: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM each process in turn, SIGKILL it after `grace` s; then the same for the
    children they had (a nanny's worker), by pid, in case a parent died before them."""
    children: list[psutil.Process] = []
    for process in processes:
        try:
            children += psutil.Process(process.pid).children(recursive=True)
        except psutil.Error:  # already gone
            pass
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    _, alive = psutil.wait_procs(children, timeout=grace)
    for child in alive:
        child.kill()


@contextmanager
def dask_cluster(log_path: Path, workers: int = DASK_WORKERS) -> Iterator[tuple[str, list[int]]]:
    """A real `dask scheduler` and `workers` single-process, single-thread `dask worker`s on
    127.0.0.1, from the kedro venv (same code and versions as the client); yields the
    scheduler address and their pids once all workers have joined. Startup is not timed."""
    from distributed import Client

    dask = kedro_executable().with_name("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    processes: list[subprocess.Popen] = []
    with open(log_path, "wb") as log:
        spawn = functools.partial(
            subprocess.Popen, env={**os.environ, **QUIET_ENV}, stdout=log, stderr=subprocess.STDOUT
        )
        try:
            processes.append(
                spawn(
                    [
                        str(dask),
                        "scheduler",
                        "--host",
                        "127.0.0.1",
                        "--port",
                        str(port),
                        "--no-dashboard",
                    ]
                )
            )
            for _ in range(workers):
                processes.append(
                    spawn(
                        [
                            str(dask),
                            "worker",
                            address,
                            "--nworkers",
                            "1",
                            "--nthreads",
                            "1",
                            "--no-dashboard",
                        ]
                    )
                )
            with Client(address, timeout=60) as client:
                client.wait_for_workers(workers, timeout=60)
            yield address, [process.pid for process in processes]
        finally:
            stop(processes[::-1])  # workers first: they would retry a gone scheduler


def time_kedro_dask(project: Path, raw: Path, n: int, workdir: Path) -> dict[str, dict]:
    """The kedro row on `executor.kind=dask`: a LocalCluster the run starts itself, then a
    running scheduler + workers (their memory counted with the run's)."""
    dask = {"executor.kind": "dask"}
    rows = {
        "unimed-kedro-dask-local": time_kedro(
            project, raw, n, workdir / f"kedro-dask-local-{n}.log", dask
        )
    }
    with dask_cluster(workdir / f"dask-cluster-{n}.log") as (address, pids):
        rows["unimed-kedro-dask-cluster"] = time_kedro(
            project,
            raw,
            n,
            workdir / f"kedro-dask-cluster-{n}.log",
            {**dask, "executor.address": address},
            also_monitor=tuple(pids),
        )
    return rows


# --- img2dataset ----------------------------------------------------------------------


def img2dataset_executable(workdir: Path) -> tuple[Path, str]:
    """img2dataset in its own venv under workdir, never a project dependency; an existing
    venv is reused if it imports. Returns the CLI and the installed version."""
    venv = workdir / "img2dataset-venv"
    python = venv / "bin" / "python"
    check = [
        str(python),
        "-c",
        "import img2dataset, importlib.metadata as m; print(m.version('img2dataset'))",
    ]
    env = {**os.environ, **OFFLINE_ENV}
    probe = python.is_file() and subprocess.run(check, env=env, capture_output=True, text=True)
    if not probe or probe.returncode != 0:
        print(f"installing {IMG2DATASET} into {venv} (once)", flush=True)
        subprocess.run([sys.executable, "-m", "venv", "--clear", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", IMG2DATASET], check=True)
        probe = subprocess.run(check, env=env, capture_output=True, text=True, check=True)
    return venv / "bin" / "img2dataset", probe.stdout.strip()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # one stderr line per image otherwise


@contextmanager
def serve(directory: Path) -> Iterator[str]:
    """`directory` over HTTP on 127.0.0.1 from a thread of this process; yields the base
    URL. Its CPU counts as this process's (not outside load), as a download would."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def time_img2dataset(workdir: Path, raw: Path, files: list[Path], n: int) -> dict:
    """Wall clock of the img2dataset CLI fetching the raw films from a local HTTP server into
    a fresh output folder, our resize/encode/shard settings, all cores."""
    executable, version = img2dataset_executable(workdir)
    out, url_list = workdir / f"img2dataset-{n}", workdir / f"img2dataset-urls-{n}.txt"
    log_path = workdir / f"img2dataset-{n}.log"
    # wiped here, not with incremental_mode=overwrite: 1.47.0 then deletes its own _tmp/
    shutil.rmtree(out, ignore_errors=True)
    warm_page_cache(files)
    flags = {**IMG2DATASET_FLAGS, "processes_count": os.cpu_count()}
    env = {**os.environ, **QUIET_ENV, **OFFLINE_ENV}
    with serve(raw) as base, open(log_path, "wb") as log:
        url_list.write_text(
            "".join(f"{base}/{quote(f.relative_to(raw).as_posix())}\n" for f in files)
        )
        command = [
            str(executable),
            str(url_list),
            f"--output_folder={out}",
            *(f"--{key}={value}" for key, value in flags.items()),
        ]
        start = time.perf_counter()
        process = subprocess.Popen(
            command, cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        )
        with Monitor(process.pid) as monitor:
            code = process.wait()
        seconds = time.perf_counter() - start
    if code != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-30:]
        raise RuntimeError(f"img2dataset failed ({code}); see {log_path}:\n" + "\n".join(tail))
    stats = [json.loads(p.read_text()) for p in sorted(out.glob("*_stats.json"))]
    successes = sum(int(s["successes"]) for s in stats)
    return result(
        successes,
        seconds,
        monitor,
        successes=successes,
        shards=len(stats),
        img2dataset=version,
        settings=flags,
    )


# --- report ---------------------------------------------------------------------------


def table(methods: dict[str, dict]) -> str:
    lines = [
        "| method | images/s | × pillow-best | wall s | peak RSS MB | peak PSS MB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, m in methods.items():
        lines.append(
            f"| {name} | {m['images_per_s']:.1f} | {m['ratio_to_pillow_best']:.2f} "
            f"| {m['wall_s']:.2f} | {m['peak_rss_mb']:.0f} | {m.get('peak_pss_mb', 0):.0f} |"
        )
    rounds = methods["pillow-best"].get("rounds_images_per_s", [])
    if len(rounds) > 1:
        lines.append(
            f"\nrounds: pillow-best {rounds} images/s"
            + "".join(
                f"; {name} {m['rounds_images_per_s']} images/s, x {m['rounds_ratio']}"
                for name, m in methods.items()
                if name != "pillow-best" and "rounds_ratio" in m
            )
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000, help="number of generated images")
    parser.add_argument(
        "--rounds", type=int, default=1, help="time pillow-best and kedro this many times, in pairs"
    )
    parser.add_argument(
        "--side",
        type=int,
        default=SIZE,
        help="generated films' side in px (default 1024: CheXpert-like; 2048: heavy, like "
        "full-size MIMIC-CXR-JPG films); other sides live in <workdir>/side-<side>/",
    )
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / "out")
    parser.add_argument(
        "--skip-naive",
        action="store_true",
        help="no naive-seed row (the slowest; for quick iterations)",
    )
    parser.add_argument(
        "--skip-kedro", action="store_true", help="no kedro rows (the Dask ones included)"
    )
    parser.add_argument(
        "--skip-dask",
        action="store_true",
        help="no kedro rows on Dask (LocalCluster, scheduler + workers)",
    )
    parser.add_argument(
        "--skip-img2dataset",
        action="store_true",
        help="no img2dataset row (its first run installs it into <workdir>/img2dataset-venv)",
    )
    return parser.parse_args(argv)


def measure(
    args: argparse.Namespace, workdir: Path, raw: Path, files: list[Path]
) -> dict[str, dict]:
    """Every row the flags ask for, one after another (never two at once: they would
    compete for the cores); pillow-best and kedro first, `--rounds` times in pairs."""
    shards = workdir / f"shards-{args.n}"
    empty_trash(workdir)
    project = None if args.skip_kedro else prepare_project(workdir)
    pairs = []
    for _ in range(max(1, args.rounds)):
        pair = {"pillow-best": time_loop(pillow_best, files, shards / "pillow-best.tar")}
        if project is not None:
            pair["unimed-kedro"] = time_kedro(project, raw, args.n, workdir / f"kedro-{args.n}.log")
        pairs.append(pair)
    methods = {name: median_round(pairs, name) for name in pairs[0]}
    if not args.skip_naive:
        methods["naive-seed"] = time_loop(naive_seed, files, shards / "naive-seed.tar")
    if project is not None and not args.skip_dask:
        methods.update(time_kedro_dask(project, raw, args.n, workdir))
    if not args.skip_img2dataset:
        methods["img2dataset"] = time_img2dataset(workdir, raw, files, args.n)
    return methods


def median_round(pairs: list[dict[str, dict]], name: str) -> dict:
    """`name`'s median round (by its ratio to the pillow-best of the same pair), with every
    round's images/s and ratio listed; the peak RSS and PSS are the highest of any round."""
    ratios = [p[name]["images_per_s"] / p["pillow-best"]["images_per_s"] for p in pairs]
    order = sorted(range(len(pairs)), key=lambda i: (ratios[i], pairs[i][name]["images_per_s"]))
    middle = order[(len(pairs) - 1) // 2]
    return {
        **pairs[middle][name],
        "pair_ratio": ratios[middle],
        "peak_rss_mb": max(p[name]["peak_rss_mb"] for p in pairs),
        "peak_pss_mb": max(p[name].get("peak_pss_mb", 0) for p in pairs),
        "rounds_images_per_s": [round(p[name]["images_per_s"], 1) for p in pairs],
        "rounds_ratio": [round(r, 3) for r in ratios],
    }


def main(argv: list[str] | None = None) -> dict:
    args = parse_args(argv)
    # films of another size get a folder of their own: inputs, project, logs and results
    workdir = args.workdir.resolve() / (f"side-{args.side}" if args.side != SIZE else "")
    raw = workdir / f"raw-{args.n}"
    files = generate(raw, args.n, args.side)
    total_bytes = warm_page_cache(files)
    methods = measure(args, workdir, raw, files)
    empty_trash(workdir)
    base = methods["pillow-best"]["images_per_s"]
    for m in methods.values():
        m["ratio_to_pillow_best"] = m.get("pair_ratio", m["images_per_s"] / base)
    results = {
        "n": args.n,
        "film_side": args.side,
        "cpu_count": os.cpu_count(),
        "mean_input_kb": total_bytes / args.n / 1024,
        "python": platform.python_version(),
        "pillow": PIL.__version__,
        "methods": methods,
    }
    (workdir / f"results-{args.n}.json").write_text(json.dumps(results, indent=2) + "\n")
    print(
        f"{args.n} images of {results['mean_input_kb']:.0f} KB ({args.side}² L JPEG q95), "
        f"{os.cpu_count()} CPUs\n\n{table(methods)}"
    )
    for name, m in methods.items():
        if m["outside_load_cores"] + m["steal_cores"] > 0.15:
            print(
                f"warning: {name}: other processes used {m['outside_load_cores']:.2f} and "
                f"the host stole {m['steal_cores']:.2f} cores meanwhile; rerun when quiet"
            )
        if m.get("successes", args.n) != args.n:
            print(
                f"warning: {name}: {m['successes']} of {args.n} images written; "
                f"see {workdir}/{name}-{args.n}.log"
            )
    return results


if __name__ == "__main__":
    main()
