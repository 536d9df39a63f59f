"""Execution backends for chunk tasks.

Results come back as they finish (small metadata rows, never pixels), so the caller can
commit each chunk at once. `local` uses a process pool on all cores; `dask` sends the
chunks to a Dask cluster (`executor.address`, or a LocalCluster started for the run);
`inline` runs in the calling process (debugging, tiny inputs). Workers read and write
through the paths in the tasks, so a remote cluster needs the same filesystem mounted.

Pool workers never outlive the run: each one is named `unimed-worker` (`ps`, `top`,
/proc/<pid>/comm) and exits as soon as the run's process does, even one killed with
SIGKILL (a thread in each worker waits on the run's pidfd; `worker_started`).
The executor settings are checked before anything starts (`check_executor`).
"""

from __future__ import annotations

import atexit
import ctypes
import gc
import logging
import multiprocessing
import os
import select
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

log = logging.getLogger(__name__)


MP_CONTEXTS = ("fork", "forkserver", "spawn")
WORKER_NAME = b"unimed-worker"  # what `ps -o comm` shows for a pool worker
PARENT_POLL = 0.5  # seconds between a worker's checks that the run is still there (no pidfd)
PR_SET_NAME = 15  # linux/prctl.h


def check_executor(executor: Mapping) -> None:
    """`ValueError` naming the first bad `executor.*` setting."""
    if not isinstance(executor, Mapping):
        raise ValueError(f"executor: expected a mapping (kind, workers, ...), got {executor!r}")
    kind = executor.get("kind", "local")
    if kind not in BACKENDS:
        raise ValueError(f"executor.kind: expected one of {sorted(BACKENDS)}, got {kind!r}")
    workers = executor.get("workers") or 0
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 0:
        raise ValueError(
            f"executor.workers: expected a non-negative integer (0: all cores), got {workers!r}"
        )
    method = executor.get("mp_context", "forkserver")
    if method not in MP_CONTEXTS or method not in multiprocessing.get_all_start_methods():
        raise ValueError(
            f"executor.mp_context: expected one of {multiprocessing.get_all_start_methods()}, "
            f"got {method!r}"
        )
    address = executor.get("address")
    if address is not None and not isinstance(address, str):
        raise ValueError(f"executor.address: expected a scheduler address or null, got {address!r}")


def worker_count(executor: dict) -> int:
    workers = int(executor.get("workers") or 0)
    return workers if workers > 0 else (os.cpu_count() or 1)


def map_tasks(
    fn: Callable,
    tasks: list,
    out_dir: Path,
    executor: dict,
    *,
    desc: str,
    unit: str,
    preload: Sequence[str] = (),
) -> Iterator[tuple[Any, Any]]:
    """Yield `(task, fn(task, out_dir))` for every task, in completion order. `preload`:
    modules a pool started now loads once in its fork server."""
    check_executor(executor)
    kind = executor.get("kind", "local")
    total = sum(len(t.payload) if hasattr(t.payload, "__len__") else 1 for t in tasks)
    with tqdm(total=total, desc=desc, unit=unit, disable=not tasks, leave=False) as bar:
        if kind == "local" and (len(tasks) <= 1 or worker_count(executor) == 1):
            kind = "inline"  # a pool would only add start-up time
        results = BACKENDS[kind](fn, tasks, out_dir, executor, preload)
        for task, result in results:
            bar.update(len(task.payload) if hasattr(task.payload, "__len__") else 1)
            yield task, result


def _inline(
    fn: Callable, tasks: list, out_dir: Path, executor: dict, preload: Sequence[str]
) -> Iterator[tuple[Any, Any]]:
    return ((task, fn(task, out_dir)) for task in tasks)


def _process_pool(
    fn: Callable, tasks: list, out_dir: Path, executor: dict, preload: Sequence[str]
) -> Iterator[tuple[Any, Any]]:
    pool, workers = _shared_pool(executor, preload)
    # Keep at most 2 tasks per worker queued so memory does not grow with the task list.
    pending: dict = {}
    queue = iter(tasks)
    for task in queue:
        pending[pool.submit(fn, task, out_dir)] = task
        if len(pending) >= 2 * workers:
            break
    while pending:
        finished, _ = wait(pending, return_when=FIRST_COMPLETED)
        for future in finished:
            task = pending.pop(future)
            yield task, future.result()
            nxt = next(queue, None)
            if nxt is not None:
                pending[pool.submit(fn, nxt, out_dir)] = nxt


_POOLS: dict[tuple[int, str], ProcessPoolExecutor] = {}
_STARTING = threading.Lock()  # the background start and the first job may race


def _shared_pool(executor: dict, preload: Sequence[str]) -> tuple[ProcessPoolExecutor, int]:
    """One pool per (workers, start method), reused by every job of the run: starting
    workers costs about a second each with `spawn` (they re-import the kedro CLI), so
    normalize and both export jobs share them. `forkserver` forks workers from a clean
    single-threaded server that has the jobs' modules (`preload`) loaded; a pool already
    running keeps the modules it was started with, and workers import the rest."""
    workers = worker_count(executor)
    method = executor.get("mp_context", "forkserver")
    key = (workers, method)
    with _STARTING:
        if key not in _POOLS:
            context = multiprocessing.get_context(method)
            if method == "forkserver":
                context.set_forkserver_preload([*preload, __name__])
            _POOLS[key] = ProcessPoolExecutor(
                max_workers=workers,
                mp_context=context,
                initializer=worker_started,
                initargs=(os.getpid(),),
            )
    return _POOLS[key], workers


def worker_started(run_pid: int) -> None:
    """First thing every pool worker runs: name it, and make it exit when the run's process
    (`run_pid`) does, however that one ends (SIGKILL, the OOM killer). Neither the pool nor
    the parent-death signal covers it: a forkserver worker's parent is the fork server,
    which only exits once its workers have (they hold its liveness pipe), and a `spawn` or
    `fork` worker's parent thread may be a short-lived one (`start_in_background`). A
    worker left running would hold memory and files, and block the next run's cleanup."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_NAME, ctypes.c_char_p(WORKER_NAME), 0, 0, 0)
    gc.freeze()  # the preloaded modules live as long as the worker: out of gc's walks
    try:
        watch: int | None = os.pidfd_open(run_pid)  # Linux: readable once the run exits
    except ProcessLookupError:  # the run ended before this worker started
        os._exit(1)
    except (AttributeError, OSError):  # no pidfd: poll the pid instead
        watch = None
    threading.Thread(
        target=_exit_with_run, args=(run_pid, watch), name="watch-run", daemon=True
    ).start()


def _exit_with_run(run_pid: int, watch: int | None) -> None:
    if watch is not None:
        select.select([watch], [], [])
    else:
        while _running(run_pid):
            time.sleep(PARENT_POLL)
    os._exit(1)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process now holds the pid
        return False
    return True


def start_in_background(executor: dict, preload: Sequence[str] = ()) -> threading.Thread | None:
    """Bring up the pool's worker processes (or the LocalCluster) from a thread, so that
    the first job finds them running; None when the executor needs nothing started.
    Settings that cannot work fail here, before the run's first node."""
    check_executor(executor)
    kind = executor.get("kind", "local")
    if kind == "local" and worker_count(executor) > 1:

        def start() -> None:
            pool, workers = _shared_pool(executor, preload)
            for future in [pool.submit(os.getpid) for _ in range(workers)]:
                future.result()
    elif kind == "dask" and not executor.get("address"):

        def start() -> None:
            _local_cluster(executor)
    else:
        return None
    log.info("engine: starting the %s workers in the background", kind)

    def guarded() -> None:  # a failure here resurfaces, with context, in the first job
        try:
            start()
        except Exception as err:  # noqa: BLE001
            log.debug("starting workers in the background failed: %s", err)

    thread = threading.Thread(target=guarded, name="start-workers", daemon=True)
    thread.start()
    return thread


def _dask(
    fn: Callable, tasks: list, out_dir: Path, executor: dict, preload: Sequence[str]
) -> Iterator[tuple[Any, Any]]:
    from distributed import Client, as_completed

    if not tasks:
        return
    address = executor.get("address")
    client = Client(address, set_as_default=False) if address else _local_cluster(executor)
    futures = client.map(fn, tasks, out_dir=out_dir, pure=False)
    owner = {future.key: task for future, task in zip(futures, tasks)}
    try:
        with client.as_current():
            for future in as_completed(futures):
                yield owner[future.key], future.result()
    finally:
        client.cancel(futures)
        if address:
            client.close()


_CLUSTERS: dict[int, Any] = {}


def _local_cluster(executor: dict):
    """A client of one LocalCluster (worker processes on loopback) per worker count,
    shared by every job of the run as `_shared_pool` is: each start costs ~2 s."""
    from distributed import Client, LocalCluster

    workers = worker_count(executor)
    with _STARTING:
        if workers not in _CLUSTERS:
            cluster = LocalCluster(
                n_workers=workers,
                threads_per_worker=1,
                processes=True,
                dashboard_address=None,
                host="127.0.0.1",
            )
            _CLUSTERS[workers] = Client(cluster, set_as_default=False)
    return _CLUSTERS[workers]


@atexit.register
def shutdown() -> None:
    """Stop the run's worker pools and LocalClusters (called after each Kedro run by
    `EngineHooks`, and at exit for runs outside Kedro)."""
    with _STARTING:
        _shutdown()


def _shutdown() -> None:
    for pool in _POOLS.values():
        pool.shutdown(cancel_futures=True)
    _POOLS.clear()
    for client in _CLUSTERS.values():
        cluster = client.cluster
        client.close()
        cluster.close()
    _CLUSTERS.clear()


BACKENDS = {"inline": _inline, "local": _process_pool, "dask": _dask}
