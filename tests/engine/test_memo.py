"""The node memo: a memoized node does its work only for an output its dataset does not
already hold, and any change of an input, the code's settings or the output shows."""

import os

import pandas as pd
import pytest

from unimed_kedro.datasets import ParquetTableDataset
from unimed_kedro.engine import memo
from unimed_kedro.hooks.memo import MemoHooks
from unimed_kedro.schema.tables import Table


@pytest.fixture
def records(tmp_path):
    memo.configure(tmp_path / "memo")
    yield tmp_path / "memo"
    memo.configure(None)


def _counting(calls: list):
    def double(frame: pd.DataFrame, params: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
        calls.append(params)
        return frame * params["k"], frame.head(0)

    return double


def test_work_is_done_once_and_only_when_a_value_is_asked():
    calls: list = []
    first, second = memo.memoized(_counting(calls), 2)(pd.DataFrame({"a": [1]}), {"k": 2})
    assert calls == [] and first.key != second.key
    assert first.value()["a"].tolist() == [2] and second.value().empty
    assert calls == [{"k": 2}]


def test_keys_follow_the_inputs(tmp_path):
    run = memo.memoized(_counting([]), 2)
    frame = pd.DataFrame({"a": [1, 2]})
    key = run(frame, {"k": 2})[0].key
    assert run(frame.copy(), {"k": 2})[0].key == key
    assert run(frame, {"k": 3})[0].key != key
    assert run(pd.DataFrame({"a": [1, 3]}), {"k": 2})[0].key != key
    path = tmp_path / "t.parquet"
    frame.to_parquet(path)
    table_key = run(Table(path), {"k": 2})[0].key
    assert run(Table(path), {"k": 2})[0].key == table_key
    frame.assign(a=[5, 6]).to_parquet(path)  # the file rewritten: another key
    assert run(Table(path), {"k": 2})[0].key != table_key
    png = memo.memoized(lambda image: image, None)
    assert png(b"\x89PNG1").key == png(b"\x89PNG1").key != png(b"\x89PNG2").key


def test_an_input_without_a_key_runs_at_once():
    calls: list = []

    def read(source: object) -> str:
        calls.append(source)
        return "records"

    assert memo.memoized(read, None)(object()) == "records" and len(calls) == 1


def test_a_held_output_is_not_computed_again(tmp_path, records):
    calls: list = []
    run = memo.memoized(_counting(calls), 2)
    dataset = ParquetTableDataset(filepath=str(tmp_path / "out.parquet"))
    frame = pd.DataFrame({"a": [1, 2]})
    dataset.save(run(frame, {"k": 2})[0])
    dataset.save(run(frame, {"k": 2})[0])
    assert len(calls) == 1 and dataset.load()["a"].tolist() == [2, 4]
    dataset.save(run(frame, {"k": 3})[0])  # another parameter: computed and written
    assert len(calls) == 2 and dataset.load()["a"].tolist() == [3, 6]
    pd.DataFrame({"a": [0]}).to_parquet(tmp_path / "out.parquet")  # changed behind our back
    dataset.save(run(frame, {"k": 3})[0])
    assert len(calls) == 3 and dataset.load()["a"].tolist() == [3, 6]
    (tmp_path / "out.parquet").unlink()
    dataset.save(run(frame, {"k": 3})[0])
    assert len(calls) == 4 and dataset.load()["a"].tolist() == [3, 6]


def test_another_dataset_setting_writes_again(tmp_path, records):
    calls: list = []
    run = memo.memoized(_counting(calls), 2)
    path = str(tmp_path / "out.parquet")
    ParquetTableDataset(filepath=path).save(run(pd.DataFrame({"a": [1]}), {"k": 2})[0])
    other = ParquetTableDataset(filepath=path, save_args={"compression": "gzip"})
    other.save(run(pd.DataFrame({"a": [1]}), {"k": 2})[0])
    assert len(calls) == 2


def test_a_folder_output_is_held_until_a_file_in_it_changes(tmp_path, records):
    def plan(params: dict) -> dict:
        return params

    folder = tmp_path / "shards"
    (folder / "train").mkdir(parents=True)
    shard = folder / "train" / "a.tar"
    shard.write_bytes(b"x" * 10)
    writes: list = []
    for _ in range(2):
        memo.save(folder, memo.memoized(plan, None)({"k": 1}), writes.append, "settings")
    assert writes == [{"k": 1}]
    with open(shard, "r+b") as handle:  # truncated in place: the folder lists the same
        handle.truncate(5)
    memo.configure(records)  # the next run: a folder is walked once a run
    memo.save(folder, memo.memoized(plan, None)({"k": 1}), writes.append, "settings")
    assert len(writes) == 2
    os.link(shard, tmp_path / "elsewhere.tar")  # a hard link elsewhere changes no output
    memo.configure(records)
    memo.save(folder, memo.memoized(plan, None)({"k": 1}), writes.append, "settings")
    assert len(writes) == 2


def test_without_a_memo_folder_every_save_writes(tmp_path):
    calls: list = []
    run = memo.memoized(_counting(calls), 2)
    dataset = ParquetTableDataset(filepath=str(tmp_path / "out.parquet"))
    for _ in range(2):
        dataset.save(run(pd.DataFrame({"a": [1]}), {"k": 2})[0])
    assert len(calls) == 2


def test_a_node_that_is_not_memoized_gets_values():
    class Plain:
        func = staticmethod(lambda x: x)

    deferred = memo.Deferred("k", lambda: 42)
    given = MemoHooks().before_node_run(Plain(), {"x": deferred, "y": 1})
    assert given == {"x": 42}
    Plain.func.memoized = True  # type: ignore[attr-defined]
    assert MemoHooks().before_node_run(Plain(), {"x": deferred}) is None


def test_a_table_is_keyed_by_what_it_was_written_for(tmp_path, records):
    """An upstream node that ran again and wrote the same bytes (the file keeps its
    state) still changes the key of the node reading its table."""
    path = tmp_path / "records.parquet"
    dataset = ParquetTableDataset(filepath=str(path))

    def read(source: dict) -> pd.DataFrame:
        return pd.DataFrame({"a": [1]})

    def count(table: Table) -> int:
        return len(table)

    dataset.save(memo.memoized(read, None)({"folder": "state-1"}))
    first = memo.memoized(count, None)(Table(path)).key
    assert memo.memoized(count, None)(Table(path)).key == first
    dataset.save(memo.memoized(read, None)({"folder": "state-2"}))  # same bytes written
    assert memo.memoized(count, None)(Table(path)).key != first
    dataset.save(pd.DataFrame({"a": [1]}))  # by a node without a key: never the same
    keys = {memo.memoized(count, None)(Table(path)).key for _ in range(2)}
    dataset.save(pd.DataFrame({"a": [1]}))
    assert memo.memoized(count, None)(Table(path)).key not in keys | {first}
