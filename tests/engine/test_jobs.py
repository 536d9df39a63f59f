import json
from pathlib import Path

import pytest

from unimed_kedro.engine.jobs import ChunkJob, ChunkTask, fingerprint, run_job
from unimed_kedro.io.atomic import atomic_write_bytes


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
    rows = run_job(_job([[1, 2], [3], [4, 5, 6]]), tmp_path)
    assert rows == [{"key": "c0", "n": 2}, {"key": "c1", "n": 1}, {"key": "c2", "n": 3}]
    marker = json.loads((tmp_path / ".chunks" / "c1.json").read_text())
    assert marker["outputs"] == ["c1.txt"] and marker["rows"] == [{"key": "c1", "n": 1}]


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


def test_process_pool_gives_the_same_outputs(tmp_path):
    payloads = [[i, i + 1] for i in range(6)]
    inline = run_job(_job(payloads), tmp_path / "a")
    pooled = run_job(_job(payloads, {"kind": "local", "workers": 2}), tmp_path / "b")
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
    inline = run_job(_job(payloads), tmp_path / "a")
    on_dask = run_job(_job(payloads, {"kind": "dask", "workers": 2}), tmp_path / "b")
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
