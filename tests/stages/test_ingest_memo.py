"""Ingest reuses the tables of its last read of a source folder while nothing the read
depends on changed (the folder as `lstat` sees it, the readers' code, the registry entry,
the vocabulary, the ingest settings), and reads afresh after any change: a rerun gives
what a fresh run gives, to the byte. A damaged memo is a miss, never an error."""

from __future__ import annotations

import copy
import io
import json
import logging
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import CXR_SOURCES
from unimed_kedro.datasets import RawSourceDataset
from unimed_kedro.datasets import read_memo as read_memo_module
from unimed_kedro.datasets.read_memo import ParquetReadMemo
from unimed_kedro.sampledata import generate_cxr
from unimed_kedro.schema import IMAGE, rejects_frame
from unimed_kedro.sources.base import RawSource, Source, SourceTables
from unimed_kedro.sources.registry import entry
from unimed_kedro.stages.ingest.nodes import ingest_source

CHEXPERT = "CheXpert-v1.0-small"
KEPT_IMAGE = "train/patient00001/study1/view1_frontal.jpg"  # age 68 in train.csv
MISSING_IMAGE = "train/patient00007/study3/view1_frontal.jpg"  # a `missing_file` reject


@pytest.fixture(scope="module")
def sample_raw(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sample-raw")
    generate_cxr(root, seed=0)
    return root


@pytest.fixture
def raw_root(sample_raw, tmp_path) -> Path:
    """A copy of the sample raw data this test may change."""
    root = tmp_path / "raw"
    shutil.copytree(sample_raw, root, symlinks=True)
    return root


@pytest.fixture
def reads(monkeypatch) -> Counter:
    """How many times each source's folder was read."""
    counts: Counter = Counter()
    read = Source.read

    def counting(self: Source) -> SourceTables:
        counts[self.source.name] += 1
        return read(self)

    monkeypatch.setattr(Source, "read", counting)
    return counts


def _raw(raw_root: Path, name: str, memo: Path | None) -> RawSource:
    return RawSource(
        name, raw_root / entry(name).folder, memo=ParquetReadMemo(memo) if memo else None
    )


def _ingest(raw: RawSource, vocabulary: dict, params: dict | None = None) -> list:
    """Every read kept, however small (the sample's sources are below the default bar)."""
    params = {"memo_min_rows": 0, **(params or {})}
    manifest, rejects, info, corrections = ingest_source(raw, vocabulary, params)
    return [manifest, rejects, info, corrections]


def _assert_same(first: list, second: list) -> None:
    """Equal tables (dtypes, None vs NaN, lists) that save to the same Parquet bytes."""
    for a, b in zip(first, second):
        if not isinstance(a, pd.DataFrame):
            assert a == b
            continue
        pd.testing.assert_frame_equal(a, b, check_exact=True)
        assert _parquet(a) == _parquet(b)
        for column in [c for c in a.columns if pd.api.types.is_object_dtype(a[c].dtype)]:
            assert [type(v) for v in a[column]] == [type(v) for v in b[column]], column


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    return buffer.getvalue()


def _fresh(raw: RawSource, vocabulary: dict, params: dict | None = None) -> list:
    """What a run without a memo gives."""
    return _ingest(RawSource(raw.name, raw.path), vocabulary, params)


@pytest.mark.parametrize("name", CXR_SOURCES)
def test_a_rerun_on_an_unchanged_folder_reads_nothing_and_gives_equal_tables(
    raw_root, tmp_path, vocabulary, monkeypatch, caplog, name
):
    raw = _raw(raw_root, name, tmp_path / "memo")
    first = _ingest(raw, vocabulary)
    assert sorted(p.name for p in (tmp_path / "memo").iterdir()) == [
        "corrections.parquet",
        "key.json",
        "manifest.parquet",
        "rejects.parquet",
    ]

    def no_read(*args, **kwargs):
        raise AssertionError("the folder was read")

    reader = entry(name).reader_class()
    monkeypatch.setattr(reader, "layout", no_read)
    monkeypatch.setattr(reader, "records", no_read)
    caplog.clear()  # the first read's line, when another test left INFO on
    with caplog.at_level(logging.INFO, logger="unimed_kedro.stages.ingest.nodes"):
        second = _ingest(raw, vocabulary)
    _assert_same(first, second)
    files = sum(len(f) for _, _, f in os.walk(raw.path))
    assert [r.getMessage() for r in caplog.records] == [
        f"{name}: folder unchanged since the last read ({files} files); reusing its "
        f"{len(first[0])} records, {len(first[1])} rejects and {len(first[3])} corrections"
    ]


def test_a_read_below_the_bar_is_not_kept(raw_root, tmp_path, vocabulary, reads):
    """The default bar (10,000 rows) is above the sample's sources: each run reads the
    folder, gives what a fresh run gives and writes no memo; at the bar, the read is kept."""
    raw = _raw(raw_root, "chexpert", tmp_path / "memo")
    first = ingest_source(raw, vocabulary, None)
    rows = sum(len(t) for t in (first[0], first[1], first[3]))
    assert 0 < rows < 10_000
    assert not (tmp_path / "memo").exists()
    _assert_same(list(ingest_source(raw, vocabulary, None)), list(first))
    assert reads["chexpert"] == 2
    ingest_source(raw, vocabulary, {"memo_min_rows": rows})
    assert (tmp_path / "memo" / "key.json").is_file()
    ingest_source(raw, vocabulary, {"memo_min_rows": rows})
    assert reads["chexpert"] == 3


def _edit_index(root: Path, *, mtime_back: bool) -> None:
    """train.csv with one age changed, same size; its mtime moved on, or set back."""
    index = root / "train.csv"
    stat = index.stat()
    data = index.read_bytes()
    row = f"{CHEXPERT}/{KEPT_IMAGE},Female,68,".encode()
    assert row in data
    index.write_bytes(data.replace(row, row.replace(b",68,", b",69,")))
    shift = 0 if mtime_back else 5_000_000_000
    os.utime(index, ns=(stat.st_atime_ns, stat.st_mtime_ns + shift))
    assert index.stat().st_size == stat.st_size


def _add_image(root: Path, rel: str) -> None:
    (root / rel).parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(root / KEPT_IMAGE, root / rel)


def _link_instead(root: Path, rel: str) -> None:
    image = root / rel
    copy_ = root.parent.parent / "elsewhere.jpg"
    copy_.write_bytes(image.read_bytes())
    image.unlink()
    image.symlink_to(copy_)


CHANGES = {
    "index_edited_same_size": lambda root: _edit_index(root, mtime_back=False),
    "index_edited_mtime_set_back": lambda root: _edit_index(root, mtime_back=True),
    "image_deleted": lambda root: (root / KEPT_IMAGE).unlink(),
    "image_added": lambda root: _add_image(root, MISSING_IMAGE),
    "image_replaced_by_symlink": lambda root: _link_instead(root, KEPT_IMAGE),
}


@pytest.mark.parametrize("change", sorted(CHANGES))
def test_a_changed_folder_is_read_afresh(raw_root, tmp_path, vocabulary, reads, change):
    raw = _raw(raw_root, "chexpert", tmp_path / "memo")
    first = _ingest(raw, vocabulary)
    CHANGES[change](raw.path)
    second = _ingest(raw, vocabulary)
    assert reads["chexpert"] == 2
    _assert_same(second, _fresh(raw, vocabulary))
    assert not first[0].equals(second[0]) or not first[1].equals(second[1])
    # the new read is what the memo keeps now
    _assert_same(_ingest(raw, vocabulary), second)
    assert reads["chexpert"] == 3  # the two above, and `_fresh`


def _fewer_labels(vocabulary: dict) -> dict:
    changed = copy.deepcopy(vocabulary)
    union = changed["labels"]["union"]
    del union[list(union)[-1]]
    return changed


@pytest.mark.parametrize("change", ["vocabulary", "ingest_option"])
def test_other_settings_are_read_afresh(raw_root, tmp_path, vocabulary, reads, change):
    raw = _raw(raw_root, "chexpert", tmp_path / "memo")
    params = {"collection": "cxr", "allow_symlinks": False}
    _ingest(raw, vocabulary, params)
    if change == "vocabulary":
        vocabulary = _fewer_labels(vocabulary)
    else:
        params = {**params, "allow_symlinks": True}
    second = _ingest(raw, vocabulary, params)
    assert reads["chexpert"] == 2
    _assert_same(second, _fresh(raw, vocabulary, params))


def test_a_change_of_the_reader_code_is_read_afresh(
    raw_root, tmp_path, vocabulary, reads, monkeypatch
):
    raw = _raw(raw_root, "chexpert", tmp_path / "memo")
    _ingest(raw, vocabulary)
    monkeypatch.setattr(
        "unimed_kedro.stages.ingest.nodes.package_digest", lambda *names: "other code"
    )
    _ingest(raw, vocabulary)
    assert reads["chexpert"] == 2


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


DAMAGE = {
    "manifest_truncated": lambda memo: _truncate(memo / "manifest.parquet"),
    "rejects_garbage": lambda memo: (memo / "rejects.parquet").write_bytes(b"PAR1 garbage"),
    "corrections_missing": lambda memo: (memo / "corrections.parquet").unlink(),
    "key_garbage": lambda memo: (memo / "key.json").write_text("{not json"),
    "key_not_an_object": lambda memo: (memo / "key.json").write_text("[1, 2]"),
    "key_missing": lambda memo: (memo / "key.json").unlink(),
    "key_of_another_read": lambda memo: (memo / "key.json").write_text('{"key": "0"}'),
    "column_notes_dropped": lambda memo: _drop_notes(memo / "manifest.parquet"),
}


def _drop_notes(path: Path) -> None:
    pd.read_parquet(path).to_parquet(path)


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_memo_is_a_miss(raw_root, tmp_path, vocabulary, reads, damage):
    raw = _raw(raw_root, "chexpert", tmp_path / "memo")
    first = _ingest(raw, vocabulary)
    DAMAGE[damage](tmp_path / "memo")
    _assert_same(_ingest(raw, vocabulary), first)
    assert reads["chexpert"] == 2
    # and whole again afterwards
    _assert_same(_ingest(raw, vocabulary), first)
    assert reads["chexpert"] == 2


def test_a_link_to_a_folder_outside_means_reading_every_run(raw_root, tmp_path, vocabulary, reads):
    (tmp_path / "more").mkdir()
    raw = _raw(raw_root, "chexpert", tmp_path / "memo")
    (raw.path / "more").symlink_to(tmp_path / "more", target_is_directory=True)
    first = _ingest(raw, vocabulary)
    _assert_same(_ingest(raw, vocabulary), first)
    assert reads["chexpert"] == 2 and not (tmp_path / "memo").exists()


def test_a_linked_file_outside_that_changes_is_read_afresh(raw_root, tmp_path, vocabulary, reads):
    """DVC's `cache.type: symlink`: the index is a link into a cache outside raw data."""
    raw = _raw(raw_root, "chexpert", tmp_path / "memo")
    cached = tmp_path / "cache" / "train.csv"
    cached.parent.mkdir()
    shutil.move(raw.path / "train.csv", cached)
    (raw.path / "train.csv").symlink_to(cached)
    params = {"collection": "cxr", "allow_symlinks": True}
    first = _ingest(raw, vocabulary, params)
    _assert_same(_ingest(raw, vocabulary, params), first)
    assert reads["chexpert"] == 1
    _edit_index(cached.parent, mtime_back=False)
    second = _ingest(raw, vocabulary, params)
    assert reads["chexpert"] == 2 and not first[0].equals(second[0])
    _assert_same(second, _fresh(raw, vocabulary, params))


def test_an_interrupted_remember_leaves_the_last_whole_memo(raw_root, tmp_path, vocabulary):
    memo = tmp_path / "memo"
    raw = _raw(raw_root, "chexpert", memo)
    first = _ingest(raw, vocabulary)
    key = json.loads((memo / "key.json").read_text())["key"]
    (raw.path / KEPT_IMAGE).unlink()
    write = read_memo_module._write_table
    written: list[str] = []

    def killed(frame: pd.DataFrame, path: Path) -> None:
        if written:  # the manifest is written, then the run is killed
            raise KeyboardInterrupt
        written.append(path.name)
        write(frame, path)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(read_memo_module, "_write_table", killed)
        with pytest.raises(KeyboardInterrupt):
            _ingest(raw, vocabulary)
    assert written == ["manifest.parquet"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["memo", "raw"]  # no staging left
    assert json.loads((memo / "key.json").read_text())["key"] == key
    kept = ParquetReadMemo(memo).recall(key)
    assert kept is not None
    _assert_same(list(kept), [first[0], first[1], first[3]])


def test_the_staging_folder_of_a_killed_run_is_swept(raw_root, tmp_path, vocabulary):
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()  # a writer that is dead
    staging = tmp_path / f".memo.tmp-{child.pid}-0123abcd"
    (staging).mkdir()
    (staging / "manifest.parquet").write_bytes(b"half")
    alive = tmp_path / f".memo.tmp-{os.getpid()}-0123abcd"  # a live writer's: kept
    alive.mkdir()
    _ingest(_raw(raw_root, "chexpert", tmp_path / "memo"), vocabulary)
    assert not staging.exists() and alive.exists()
    assert (tmp_path / "memo" / "key.json").is_file()


def test_real_tables_and_empty_ones_survive_the_memo(sample_raw, tmp_path, vocabulary):
    labels = vocabulary["labels"]["union"]
    empty = SourceTables(IMAGE.empty(labels), rejects_frame([]), rejects_frame([]))
    cases = {"empty": empty}
    for name in CXR_SOURCES:
        cases[name] = entry(name).open(sample_raw / entry(name).folder, vocabulary).read()
    assert any(c is not None for c in cases["chexpert"].manifest["source_captions"])
    for name, tables in cases.items():
        memo = ParquetReadMemo(tmp_path / name)
        memo.remember(f"key-{name}", tables)
        assert memo.recall("another key") is None
        recalled = memo.recall(f"key-{name}")
        assert recalled is not None, name
        _assert_same(list(tables), list(recalled))


@pytest.mark.parametrize(
    "cells",
    [[None, float("nan")], [1, "one"]],  # two kinds of missing; values Arrow cannot type
    ids=["mixed_missing", "mixed_types"],
)
def test_tables_parquet_cannot_give_back_are_not_kept(tmp_path, vocabulary, caplog, cells):
    labels = vocabulary["labels"]["union"]
    manifest = IMAGE.empty(labels).reindex(range(2))
    manifest["report_findings"] = pd.Series(cells, dtype=object)
    memo = ParquetReadMemo(tmp_path / "memo")
    with caplog.at_level(logging.WARNING):
        memo.remember("key", SourceTables(manifest, rejects_frame([]), rejects_frame([])))
    assert "not kept for reuse" in caplog.text
    assert memo.recall("key") is None and not (tmp_path / "memo").exists()


def test_the_raw_dataset_gives_its_memo(tmp_path):
    dataset = RawSourceDataset(root=str(tmp_path), source="nih", memo=str(tmp_path / "m"))
    raw = dataset.load()
    assert raw.memo == ParquetReadMemo(tmp_path / "m")
    plain = RawSourceDataset(root=str(tmp_path), source="nih").load()
    assert plain.memo is None
    assert raw == plain  # the memo is an aid, not which folder this is
