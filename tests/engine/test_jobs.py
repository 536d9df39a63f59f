import gc
import json
from pathlib import Path

import pytest

from tests.conftest import run_rows
from unimed_kedro.engine.jobs import (
    MARKER_DIR,
    ChunkJob,
    ChunkTask,
    fingerprint,
    remove_unlisted,
    run_job,
)
from unimed_kedro.io.atomic import atomic_dir, atomic_write_bytes, temporary


def write_numbers(task, out_dir: Path):
    """Chunk function: one file per task; fails on request to simulate a crash."""
    if "fail" in task.payload:
        raise RuntimeError("worker died")
    rel = f"{task.key}.txt"
    atomic_write_bytes(out_dir / rel, " ".join(map(str, task.payload)).encode())
    (out_dir / "calls.log").open("a").write(task.key + "\n")
    return [{"key": task.key, "n": len(task.payload)}], [rel]


def _job(payloads, executor=None):
    tasks = [ChunkTask(f"c{i}", p, fingerprint(p)) for i, p in enumerate(payloads)]
    return ChunkJob(tasks, write_numbers, executor or {"kind": "inline"})


def _calls(out: Path) -> list[str]:
    return (out / "calls.log").read_text().split() if (out / "calls.log").exists() else []


def test_rows_in_task_order_and_markers(tmp_path):
    rows = run_rows(_job([[1, 2], [3], [4, 5, 6]]), tmp_path)
    assert rows == [{"key": "c0", "n": 2}, {"key": "c1", "n": 1}, {"key": "c2", "n": 3}]
    marker = json.loads((tmp_path / ".chunks" / "c1.json").read_text())
    # every output with what verifies it: a file's size
    assert marker["outputs"] == {"c1.txt": 1} and marker["rows"] == [{"key": "c1", "n": 1}]


def test_finished_chunks_are_not_redone_after_a_crash(tmp_path):
    with pytest.raises(RuntimeError):
        run_job(_job([[1], [2], ["fail"]]), tmp_path)
    assert _calls(tmp_path) == ["c0", "c1"]
    run_job(_job([[1], [2], [3]]), tmp_path)
    assert _calls(tmp_path) == ["c0", "c1", "c2"]


def test_changed_input_rebuilds_only_that_chunk_and_stale_chunks_go(tmp_path):
    run_job(_job([[1], [2], [3]]), tmp_path)
    run_job(_job([[1], [20]]), tmp_path)
    assert _calls(tmp_path) == ["c0", "c1", "c2", "c1"]
    assert (tmp_path / "c1.txt").read_text() == "20"
    assert not (tmp_path / "c2.txt").exists() and not (tmp_path / ".chunks" / "c2.json").exists()


def test_deleted_output_is_rebuilt(tmp_path):
    run_job(_job([[1], [2]]), tmp_path)
    (tmp_path / "c0.txt").unlink()
    run_job(_job([[1], [2]]), tmp_path)
    assert _calls(tmp_path) == ["c0", "c1", "c0"]


def test_truncated_or_replaced_output_is_rebuilt(tmp_path):
    """A chunk is up to date only when its outputs are as committed, not merely there."""
    run_job(_job([[1, 2], [3, 4], [5]]), tmp_path)
    (tmp_path / "c0.txt").write_bytes(b"1 ")  # truncated in place
    (tmp_path / "c1.txt").write_bytes(b"something else")  # replaced
    rows = run_rows(_job([[1, 2], [3, 4], [5]]), tmp_path)
    assert _calls(tmp_path) == ["c0", "c1", "c2", "c0", "c1"]
    assert (tmp_path / "c0.txt").read_text() == "1 2" and (tmp_path / "c1.txt").read_text() == "3 4"
    assert rows == [{"key": "c0", "n": 2}, {"key": "c1", "n": 2}, {"key": "c2", "n": 1}]


def store_folder(task, out_dir: Path):
    """Chunk function writing a folder of files, as the image store does."""
    with atomic_dir(out_dir / task.key) as folder:
        for item in task.payload:
            (folder / f"{item}.bin").write_bytes(item.encode() * 4)
    (out_dir / "calls.log").open("a").write(task.key + "\n")
    return [{"key": task.key}], [task.key]


@pytest.mark.parametrize("damage", ["truncate", "extra file", "missing file"])
def test_a_folder_output_is_verified_by_its_files_and_sizes(tmp_path, damage):
    tasks = [ChunkTask(f"f{i}", items, fingerprint(items)) for i, items in enumerate([["a", "b"]])]
    job = ChunkJob(tasks, store_folder, {"kind": "inline"})
    run_job(job, tmp_path)
    run_job(job, tmp_path)
    assert _calls(tmp_path) == ["f0"]  # intact: not redone
    folder = tmp_path / "f0"
    if damage == "truncate":
        (folder / "a.bin").write_bytes(b"a")
    elif damage == "extra file":
        (folder / "c.bin").write_bytes(b"cccc")
    else:
        (folder / "b.bin").unlink()
    run_job(job, tmp_path)
    assert _calls(tmp_path) == ["f0", "f0"]
    assert sorted(p.name for p in folder.iterdir()) == ["a.bin", "b.bin"]
    assert (folder / "a.bin").read_bytes() == b"aaaa"


def write_items(task, out_dir: Path):
    """Chunk function writing one file per item, named by the item (as the files layout
    names images by sample): an item can move from one chunk to another."""
    (out_dir / "items").mkdir(exist_ok=True)
    for item in task.payload:
        atomic_write_bytes(out_dir / "items" / f"{item}.txt", item.encode())
    return [], [f"items/{item}.txt" for item in task.payload]


def _items(out: Path) -> list[str]:
    return sorted(p.stem for p in (out / "items").iterdir() if not p.name.startswith("."))


def test_rechunked_items_keep_their_files_and_dropped_ones_go(tmp_path):
    def job(*chunks):
        tasks = [ChunkTask(f"c{i}", list(c), fingerprint(list(c))) for i, c in enumerate(chunks)]
        return ChunkJob(tasks, write_items, {"kind": "inline"})

    run_job(job("ab", "cd"), tmp_path)
    assert _items(tmp_path) == ["a", "b", "c", "d"]
    run_job(job("a", "bc"), tmp_path)  # d left the job; b moved from c0 to c1
    assert _items(tmp_path) == ["a", "b", "c"]
    run_job(job("abc"), tmp_path)  # c1 is gone, but what it listed now belongs to c0
    assert _items(tmp_path) == ["a", "b", "c"]
    assert sorted(p.name for p in (tmp_path / MARKER_DIR).iterdir()) == ["c0.json"]


def test_remove_unlisted_leaves_exactly_what_the_markers_and_the_dataset_list(tmp_path):
    out, outside = tmp_path / "out", tmp_path / "outside"
    outside.mkdir()
    (outside / "raw.jpg").write_bytes(b"raw data")
    run_job(_job([[1], [2]]), out)
    (out / "index.parquet").write_bytes(b"the dataset's own file")
    (out / "c7.txt").write_bytes(b"a previous build's output")
    (out / "old-split").mkdir()
    (out / "old-split" / "shard.tar").write_bytes(b"a split that no longer exists")
    (out / "linked").symlink_to(outside, target_is_directory=True)
    writing = Path(temporary(out / "c9.txt"))
    writing.write_bytes(b"being written by a live process")
    assert remove_unlisted(out, keep=["index.parquet"]) == 4  # calls.log, c7, old-split, link
    assert sorted(p.name for p in out.iterdir()) == sorted(
        [MARKER_DIR, "c0.txt", "c1.txt", "index.parquet", writing.name]
    )
    assert (outside / "raw.jpg").read_bytes() == b"raw data"  # the link went, not its target


def write_many(task, out_dir: Path):
    """Chunk function: `payload` files in one folder."""
    (out_dir / "many").mkdir(exist_ok=True)
    rels = [f"many/{task.key}-{n:05d}.txt" for n in range(task.payload)]
    for rel in rels:
        (out_dir / rel).write_bytes(b"")
    return [], rels


def test_a_folder_longer_than_a_block_keeps_every_listed_file(tmp_path):
    tasks = [ChunkTask(f"c{i}", 3000, fingerprint(i)) for i in range(2)]
    run_job(ChunkJob(tasks, write_many, {"kind": "inline"}), tmp_path)
    for name in ("stray.txt", "c0-99999.txt", "c2-00000.txt"):
        (tmp_path / "many" / name).write_bytes(b"not listed")
    assert remove_unlisted(tmp_path) == 3
    assert len(list((tmp_path / "many").iterdir())) == 6000


def test_a_folder_the_engine_did_not_create_is_never_an_output_folder(tmp_path):
    (tmp_path / "raw.jpg").write_bytes(b"raw data")
    with pytest.raises(FileExistsError, match="did not create"):
        run_job(_job([[1]]), tmp_path)
    with pytest.raises(FileNotFoundError):
        remove_unlisted(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw.jpg"]


def test_process_pool_gives_the_same_outputs(tmp_path):
    payloads = [[i, i + 1] for i in range(6)]
    inline = run_rows(_job(payloads), tmp_path / "a")
    pooled = run_rows(_job(payloads, {"kind": "local", "workers": 2}), tmp_path / "b")
    assert inline == pooled
    for i in range(6):
        assert (tmp_path / "a" / f"c{i}.txt").read_bytes() == (
            tmp_path / "b" / f"c{i}.txt"
        ).read_bytes()


def test_unknown_executor_is_a_clear_error(tmp_path):
    with pytest.raises(ValueError, match="executor.kind"):
        run_job(_job([[1], [2]], {"kind": "spark", "workers": 2}), tmp_path)


def test_dask_local_cluster_gives_the_same_outputs(tmp_path):
    payloads = [[i, i + 1] for i in range(4)]
    inline = run_rows(_job(payloads), tmp_path / "a")
    on_dask = run_rows(_job(payloads, {"kind": "dask", "workers": 2}), tmp_path / "b")
    assert inline == on_dask
    assert sorted(p.name for p in (tmp_path / "b").glob("*.txt")) == [f"c{i}.txt" for i in range(4)]


def store_item(task, out_dir: Path):
    """Chunk function of a one-item task (a volume, a series): no `len()` on the payload."""
    rel = f"{task.key}/{task.payload['id']}.bin"
    (out_dir / task.key).mkdir()
    atomic_write_bytes(out_dir / rel, task.payload["id"].encode() * 3)
    return [{"sample_id": task.payload["id"], "file": rel, "stored_bytes": 6}], [task.key]


def test_a_job_declares_its_store_index_and_worker_modules(tmp_path):
    """One item per task, the job's own index columns and preloaded modules, on a real
    process pool: the store knows nothing of images."""
    from unimed_kedro.datasets.chunk_store_dataset import ChunkStoreDataset
    from unimed_kedro.engine.backends import shutdown

    tasks = [ChunkTask(f"v{i}", {"id": f"vol{i}"}, fingerprint(i)) for i in range(3)]
    job = ChunkJob(
        tasks,
        store_item,
        {"kind": "local", "workers": 2},
        "volumes",
        "vol",
        preload=("json",),
        index_columns=("sample_id", "file", "stored_bytes"),
    )
    dataset = ChunkStoreDataset(path=str(tmp_path / "store"))
    try:
        dataset.save(job)
    finally:
        shutdown()
    store = dataset.load()
    assert list(store.index().columns) == ["sample_id", "file", "stored_bytes"]
    assert store.locations(["vol2"]) == [(str(tmp_path / "store" / "v2" / "vol2.bin"), 6)]
    assert store.read("v1/vol1.bin") == b"vol1vol1vol1"


def _collector_state(task, out_dir):
    return [{"collecting": gc.isenabled()}], []


def _failing(task, out_dir):
    raise RuntimeError("chunk failed")


def test_the_collector_is_paused_while_results_come_in_and_restored(tmp_path):
    """The cyclic collector walks every object the parent holds each time they grow by a
    quarter: paused while a job's rows pour in, as it was afterwards, even on failure."""
    tasks = [ChunkTask(f"c{i}", i, f"print-{i}") for i in range(3)]
    rows = run_rows(ChunkJob(tasks, _collector_state, {"kind": "inline"}), tmp_path / "a")
    assert rows == [{"collecting": False}] * 3 and gc.isenabled()
    with pytest.raises(RuntimeError, match="chunk failed"):
        run_job(ChunkJob(tasks, _failing, {"kind": "inline"}), tmp_path / "b")
    assert gc.isenabled()
    gc.disable()
    try:
        run_job(ChunkJob(tasks, _collector_state, {"kind": "inline"}), tmp_path / "c")
        assert not gc.isenabled()  # a caller that had it off keeps it off
    finally:
        gc.enable()
