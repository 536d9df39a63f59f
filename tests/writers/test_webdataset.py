import json
import pickle
import tarfile

import numpy as np
import pandas as pd

from unimed_kedro.datasets.webdataset_dataset import WebDatasetDataset
from unimed_kedro.engine.jobs import ChunkJob, ChunkTask, fingerprint
from unimed_kedro.schema.tables import Rows, Table
from unimed_kedro.writers.members import FORMATS, image_record
from unimed_kedro.writers.webdataset import ShardSpec, write_shard

ROW_FIELDS = FORMATS["image_record"].fields


def _table(n: int) -> pd.DataFrame:
    rows = []
    for i in range(n):
        row = {field: f"{field}-{i}" for field in ROW_FIELDS}
        row.update(
            key=f"s{i}",
            image_ext="jpg",
            age=40 + i,
            sex=None,
            orig_width=1024,
            orig_height=1024,
            width=512,
            height=512,
            label_Edema=[1.0, 0.0, None][i % 3],
            report_text=[f"FINDINGS: Heart [REDACTED] {i}.", None][i % 2],
        )
        rows.append(row)
    return pd.DataFrame(rows)


def test_a_shard_sends_only_its_rows_and_writes_the_same_bytes(tmp_path):
    table = _table(6)
    images = []
    for i in range(6):
        (tmp_path / f"s{i}.jpg").write_bytes(f"image {i}".encode())
        images.append((str(tmp_path / f"s{i}.jpg"), len(f"image {i}")))
    positions = np.array([4, 1])
    spec = ShardSpec(
        "train/cxr-train-000000.tar",
        Rows(table, positions),
        [images[i] for i in positions],
        image_record,
    )

    sent = pickle.loads(pickle.dumps(spec))
    assert len(sent.rows.table) == 2 and list(sent.rows.frame()["key"]) == ["s4", "s1"]

    for name, payload in (("parent", spec), ("worker", sent)):
        write_shard(ChunkTask("shard", payload, "fp"), tmp_path / name)
    shard = "train/cxr-train-000000.tar"
    assert (tmp_path / "parent" / shard).read_bytes() == (tmp_path / "worker" / shard).read_bytes()
    with tarfile.open(tmp_path / "worker" / shard) as tar:
        assert tar.getnames() == ["s4.jpg", "s4.json", "s4.txt", "s1.jpg", "s1.json", "s1.txt"]
        assert tar.extractfile("s1.jpg").read() == b"image 1"
        meta = json.loads(tar.extractfile("s1.json").read())
    assert meta["labels"] == {"Edema": 0} and meta["age"] == 41 and meta["sex"] is None
    assert meta["report_text"] is None  # s1 has no report


def test_the_image_record_json_carries_the_marked_report_text():
    """`report_text` reaches <key>.json as the caption stage wrote it (a column the format
    reads, never text the writer makes)."""
    assert "report_text" in ROW_FIELDS
    table = _table(2)
    members = image_record(list(table.columns))
    meta = json.loads(members(table.iloc[0].to_dict())["json"])
    assert meta["report_text"] == "FINDINGS: Heart [REDACTED] 0."
    nan_row = table.iloc[1].to_dict() | {"report_text": float("nan")}  # parquet's missing
    assert json.loads(members(nan_row)["json"])["report_text"] is None


def test_members_come_from_the_format_not_the_writer(tmp_path):
    """A format with other members (UniMed's jpg+txt) needs no change to the writer."""
    table = _table(2)
    (tmp_path / "a.jpg").write_bytes(b"pixels")
    spec = ShardSpec(
        "train/x-train-000000.tar",
        Rows(table, np.array([0, 1])),
        [(str(tmp_path / "a.jpg"), 6)] * 2,
        caption_only,
    )
    write_shard(ChunkTask("shard", pickle.loads(pickle.dumps(spec)), "fp"), tmp_path / "out")
    with tarfile.open(tmp_path / "out" / spec.relpath) as tar:
        assert tar.getnames() == ["s0.jpg", "s0.txt", "s1.jpg", "s1.txt"]
        assert tar.extractfile("s1.txt").read() == b"caption-1"


def caption_only(columns):
    return lambda row: {"txt": row["caption"].encode()}


def _shard_job(images, splits: dict[str, list[int]]) -> ChunkJob:
    table = _table(len(images))
    tasks = []
    for split, positions in splits.items():
        spec = ShardSpec(
            f"{split}/x-{split}-000000.tar",
            Rows(table, np.array(positions)),
            [images[i] for i in positions],
            caption_only,
        )
        tasks.append(ChunkTask(f"{split}_x-{split}-000000", spec, fingerprint(split, positions)))
    return ChunkJob(tasks, write_shard, {"kind": "inline"})


def test_a_rebuild_leaves_no_shard_of_a_split_that_is_gone(tmp_path):
    """A rebuild with other settings (here: no test split any more) holds exactly what it
    decided: the old split's folder, shard and sizes.json go, a stray file too."""
    images = []
    for i in range(4):
        (tmp_path / f"s{i}.jpg").write_bytes(b"pixels")
        images.append((str(tmp_path / f"s{i}.jpg"), 6))
    dataset = WebDatasetDataset(path=str(tmp_path / "wds"))
    dataset.save(_shard_job(images, {"train": [0, 1], "val": [2], "test": [3]}))
    assert sorted(dataset.load()) == ["test", "train", "val"]
    (tmp_path / "wds" / "train" / "x-train-000009.tar").write_bytes(b"an older build's shard")
    dataset.save(_shard_job(images, {"train": [0, 1, 3], "val": [2]}))
    assert sorted(p.name for p in (tmp_path / "wds").iterdir()) == [".chunks", "train", "val"]
    assert [p.name for p in dataset.load()["train"]] == ["x-train-000000.tar"]
    sizes = json.loads((tmp_path / "wds" / "train" / "sizes.json").read_text())
    assert sizes == {"x-train-000000.tar": 3}


def test_a_shard_of_a_table_on_disk_is_read_by_its_worker(tmp_path):
    """With the shard index on disk the task carries its path and rows' numbers; the
    shard written is the one the frame gives."""
    table = _table(6)
    table.to_parquet(tmp_path / "index.parquet", row_group_size=2)
    images = []
    for i in range(6):
        (tmp_path / f"s{i}.jpg").write_bytes(f"image {i}".encode())
        images.append((str(tmp_path / f"s{i}.jpg"), len(f"image {i}")))
    positions = np.array([4, 1, 5])
    shard = "train/cxr-train-000000.tar"
    on_disk = Table(tmp_path / "index.parquet").select(list(table.columns))
    for name, source in (("frame", table), ("disk", on_disk)):
        picked = [images[i] for i in positions]
        spec = ShardSpec(shard, Rows(source, positions), picked, image_record)
        sent = pickle.loads(pickle.dumps(spec))
        write_shard(ChunkTask("shard", sent, "fp"), tmp_path / name)
    assert len(pickle.dumps(ShardSpec(shard, Rows(on_disk, positions), [], image_record))) < 1000
    assert (tmp_path / "frame" / shard).read_bytes() == (tmp_path / "disk" / shard).read_bytes()
