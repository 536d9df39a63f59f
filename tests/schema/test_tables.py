"""Tables read and written a batch at a time give what whole frames give."""

import io
import os

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from unimed_kedro.schema import tables
from unimed_kedro.schema.tables import (
    Batches,
    Table,
    batches_of,
    frame_of,
    taken,
    with_columns,
    write_batches,
)


def _frame(n: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"s-{i:03d}" for i in range(n)],
            "source": pd.Categorical(["a", "b", "c"][i % 3] for i in range(n)),
            "captions": [[f"c{i}", "d"] if i % 4 else None for i in range(n)],
            # missing in the first batches only: the file still has it as text
            "report": [None if i < 20 else f"r{i}" for i in range(n)],
            "age": np.arange(n, dtype=float),
        }
    )


@pytest.fixture()
def table(tmp_path) -> Table:
    path = tmp_path / "t.parquet"
    with open(path, "wb") as handle:
        write_batches(batches_of(_frame(), rows=8), handle, spill=str(tmp_path))
    return Table(path)


def test_written_in_batches_it_reads_back_as_the_frame(table):
    got = pd.read_parquet(table.path)
    pd.testing.assert_frame_equal(got, pd.read_parquet(_whole(_frame())))
    assert got["report"].dtype == "str" and isinstance(got["source"].dtype, pd.CategoricalDtype)


def test_one_batch_writes_the_bytes_of_a_whole_frame():
    one = io.BytesIO()
    write_batches(batches_of(_frame(), rows=100), one)
    assert one.getvalue() == _whole(_frame()).getvalue()


def test_batches_and_columns_of_a_table(table):
    assert len(table) == 50 and table.columns == list(_frame().columns)
    parts = list(table.batches(rows=7))
    # a batch never spans two row groups (written 8 rows each)
    assert all(0 < len(p) <= 7 for p in parts) and sum(map(len, parts)) == 50
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), frame_of(table))
    assert list(frame_of(table, ["age", "source"]).columns) == ["age", "source"]


def test_an_empty_table_still_has_its_columns(tmp_path):
    path = tmp_path / "e.parquet"
    _frame(0).to_parquet(path)
    parts = list(batches_of(Table(path)))
    assert len(parts) == 1 and list(parts[0].columns) == list(_frame().columns)
    with open(tmp_path / "again.parquet", "wb") as handle:
        assert write_batches(parts, handle) == 0
    assert list(pd.read_parquet(tmp_path / "again.parquet").columns) == list(_frame().columns)


@pytest.mark.parametrize("pick", ["all", "shuffled", "some", "none"])
def test_taken_reorders_through_buckets_on_disk(table, tmp_path, pick):
    rng = np.random.default_rng(0)
    positions = {
        "all": np.arange(50),
        "shuffled": rng.permutation(50),
        "some": rng.permutation(50)[:17],
        "none": np.array([], dtype=int),
    }[pick]
    parts = list(taken(table, positions, rows=6))
    want = frame_of(table).iloc[positions].reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), want)
    assert all(len(p) <= 6 for p in parts)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.parquet"]  # no bucket left


def test_frames_and_batches_are_tables_too(monkeypatch):
    frame = _frame()
    monkeypatch.setattr(tables, "BATCH", 16)
    assert [len(p) for p in batches_of(frame)] == [16, 16, 16, 2]
    positions = np.arange(50)[::-1]
    got = pd.concat(taken(frame, positions), ignore_index=True)
    pd.testing.assert_frame_equal(got, frame.iloc[positions].reset_index(drop=True))
    back = frame_of(Batches(batches_of(frame)), ["sample_id"])
    pd.testing.assert_frame_equal(back, frame[["sample_id"]])
    again = pd.concat(taken(Batches(batches_of(frame)), np.arange(50)), ignore_index=True)
    pd.testing.assert_frame_equal(again, frame)


def test_with_columns_lines_rows_up_across_batches():
    frame = _frame(10)
    extra = pd.DataFrame({"split": [f"x{i}" for i in range(10)]}, index=range(100, 110))
    got = pd.concat(with_columns(batches_of(frame, rows=3), extra), ignore_index=True)
    assert list(got.columns) == [*frame.columns, "split"]
    assert got["split"].tolist() == extra["split"].tolist()


def _whole(frame: pd.DataFrame) -> io.BytesIO:
    handle = io.BytesIO()
    frame.to_parquet(handle)
    handle.seek(0)
    return handle


def test_rows_read_only_their_row_groups_and_travel_as_a_path(table):
    import pickle

    positions = np.array([17, 3, 40, 41, 0])
    picked = table.select(["source", "sample_id"])
    want = frame_of(table, ["source", "sample_id"]).iloc[positions].reset_index(drop=True)
    pd.testing.assert_frame_equal(picked.rows(positions), want)
    sent = pickle.loads(pickle.dumps(picked))
    assert sent.path == table.path and sent.columns == ["source", "sample_id"]
    pd.testing.assert_frame_equal(sent.rows(positions), want)
    assert len(pickle.dumps(picked)) < 500  # the path, not the rows


def test_ids_a_node_only_compares_come_as_numbers(table):
    """Equal texts, equal numbers; missing stays missing; the texts come back by number."""
    whole = frame_of(table, ["report", "age"])
    for source in (table, whole):
        frame, texts = tables.compact_frame(source, ["report", "age"], coded=["report"])
        assert list(frame.columns) == ["report", "age"] and frame["report"].dtype == "float64"
        assert frame["report"].isna().tolist() == whole["report"].isna().tolist()
        named = [texts["report"][int(c)].as_py() for c in frame["report"].dropna()]
        assert named == whole["report"].dropna().tolist()
        pd.testing.assert_series_equal(frame["age"], whole["age"])


def test_groups_of_give_each_values_rows_in_order():
    groups = tables.groups_of(pa.array(["b", "a", "b", "c", "a"]))
    assert list(groups) == ["a", "b", "c"]
    assert [g.tolist() for g in groups.values()] == [[1, 4], [0, 2], [3]]


def test_write_sorted_gives_the_frame_sort_values_gives(tmp_path, monkeypatch):
    """Rows arriving out of order, a few at a time, come out as the whole frame sorted."""
    monkeypatch.setattr(tables, "BATCH", 8)
    frame = _frame().sample(frac=1, random_state=0).reset_index(drop=True)
    tables.write_sorted(
        batches_of(frame, rows=8), tmp_path / "s.parquet", "sample_id", spill=str(tmp_path)
    )
    want = frame.sort_values("sample_id", kind="stable").reset_index(drop=True)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "s.parquet"), want)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.parquet"]  # its spill is gone


def test_scratch_folders_a_killed_run_left_are_swept_and_a_live_one_s_kept(tmp_path, monkeypatch):
    """A SIGKILL leaves a sort's scratch folder (its `finally` never runs); the next sort
    in that folder removes it, and leaves the one a live writer (this process) holds."""
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    killed = tmp_path / f".sort.tmp-{child.pid}-0badc0de"
    (killed / "unsorted.parquet").parent.mkdir()
    (killed / "unsorted.parquet").write_bytes(b"PAR1 half")
    live = tmp_path / f".spill.tmp-{os.getpid()}-00c0ffee"
    live.mkdir()
    monkeypatch.setattr(tables, "BATCH", 8)
    tables.write_sorted(
        batches_of(_frame(), rows=8), tmp_path / "s.parquet", "sample_id", spill=str(tmp_path)
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == [live.name, "s.parquet"]


def test_batches_with_arrow_list_columns_read_back_as_lists(tmp_path):
    """Ingest's manifests carry captions as Arrow lists; written a batch at a time, pandas
    must still read them (a nested ArrowDtype named in the metadata made it fail)."""
    lists = pa.array([["x", "y"], [], None])
    frame = pd.DataFrame({"n": [1, 2, 3], "captions": pd.arrays.ArrowExtensionArray(lists)})
    write_batches(batches_of(frame, rows=2), tmp_path / "t.parquet", spill=str(tmp_path))
    back = pd.read_parquet(tmp_path / "t.parquet")
    assert [None if v is None else list(v) for v in back["captions"]] == [["x", "y"], [], None]


def test_a_compacted_slice_pickles_alone():
    """A task's slice of the plan's table is sent without the rest of the table."""
    import pickle

    whole = pa.table({"sample_id": [f"s-{i:06d}" for i in range(100_000)]})
    part = whole.slice(5000, 64)
    assert tables.compacted(part).equals(part)
    assert len(pickle.dumps(tables.compacted(part))) < 5_000 < len(pickle.dumps(part))
