"""The JSON and Parquet outputs (source facts, sources table, statistics, every manifest-like
table) appear whole or not at all, with the bytes kedro-datasets wrote in place."""

from __future__ import annotations

import pandas as pd
import pytest
from kedro.io import DatasetError
from kedro_datasets.json import JSONDataset
from kedro_datasets.pandas import ParquetDataset

from unimed_kedro.datasets import JSONFileDataset, ParquetTableDataset

FACTS = {"nih": {"title": "ChestX-ray8 — NIH", "redistributable": True, "n": [1, 2.5, None]}}


def _table(rows: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"s-{i}" for i in range(rows)],
            "age": [float(i) if i % 7 else None for i in range(rows)],
            "source_captions": [[f"a{i}", "ü"] for i in range(rows)],
        }
    )


@pytest.mark.parametrize("save_args", [{"indent": 2, "sort_keys": True}, {"indent": 2}, None])
def test_json_is_written_whole_with_kedro_datasets_bytes(tmp_path, save_args):
    path, theirs = tmp_path / "statistics.json", tmp_path / "theirs" / "statistics.json"
    dataset = JSONFileDataset(filepath=str(path), save_args=save_args)
    dataset.save(FACTS)
    JSONDataset(filepath=str(theirs), save_args=save_args).save(FACTS)
    assert path.read_bytes() == theirs.read_bytes()
    assert dataset.load() == FACTS
    with pytest.raises(DatasetError):  # json.dump has written the first keys when it fails
        dataset.save({"a": list(range(5000)), "z": object()})
    assert path.read_bytes() == theirs.read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["statistics.json", "theirs"]
    # no temporary name on an object store: a put replaces the object whole
    remote = JSONFileDataset(filepath="memory://unimed-kedro-tests/facts.json")
    remote.save(FACTS)
    assert remote.load() == FACTS


def test_parquet_is_written_whole_with_kedro_datasets_bytes(tmp_path):
    path, theirs = tmp_path / "data" / "records.parquet", tmp_path / "theirs.parquet"
    dataset = ParquetTableDataset(filepath=str(path))
    dataset.save(_table())
    ParquetDataset(filepath=str(theirs)).save(_table())
    assert path.read_bytes() == theirs.read_bytes()
    assert dataset.load()["source_captions"].map(list).tolist() == [
        [f"a{i}", "ü"] for i in range(50)
    ]
    broken = _table().astype(object)
    broken.loc[49, "age"] = "not a number"  # pyarrow cannot convert the column
    with pytest.raises(DatasetError):
        dataset.save(broken)
    assert path.read_bytes() == theirs.read_bytes()
    assert sorted(p.name for p in path.parent.iterdir()) == ["records.parquet"]
    # what kedro-datasets refuses is still refused; an object store is written as it was
    with pytest.raises(DatasetError, match="to a directory is not supported"):
        ParquetTableDataset(filepath=str(path.parent)).save(_table())
    partitioned = ParquetTableDataset(filepath=str(path), save_args={"partition_cols": ["age"]})
    with pytest.raises(DatasetError, match="partition_cols"):
        partitioned.save(_table())
    remote = ParquetTableDataset(filepath="memory://unimed-kedro-tests/t.parquet")
    remote.save(_table(3))
    assert remote.load()["sample_id"].tolist() == ["s-0", "s-1", "s-2"]
