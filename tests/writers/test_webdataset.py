import json
import pickle
import tarfile

import numpy as np
import pandas as pd

from unimed_kedro.engine.jobs import ChunkTask
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
        "train/cxr-train-000000.tar", table, positions, [images[i] for i in positions], image_record
    )

    sent = pickle.loads(pickle.dumps(spec))
    assert len(sent.table) == 2 and list(sent.rows()["key"]) == ["s4", "s1"]

    for name, payload in (("parent", spec), ("worker", sent)):
        write_shard(ChunkTask("shard", payload, "fp"), tmp_path / name)
    shard = "train/cxr-train-000000.tar"
    assert (tmp_path / "parent" / shard).read_bytes() == (tmp_path / "worker" / shard).read_bytes()
    with tarfile.open(tmp_path / "worker" / shard) as tar:
        assert tar.getnames() == ["s4.jpg", "s4.json", "s4.txt", "s1.jpg", "s1.json", "s1.txt"]
        assert tar.extractfile("s1.jpg").read() == b"image 1"
        meta = json.loads(tar.extractfile("s1.json").read())
    assert meta["labels"] == {"Edema": 0} and meta["age"] == 41 and meta["sex"] is None


def test_members_come_from_the_format_not_the_writer(tmp_path):
    """A format with other members (UniMed's jpg+txt) needs no change to the writer."""
    table = _table(2)
    (tmp_path / "a.jpg").write_bytes(b"pixels")
    spec = ShardSpec(
        "train/x-train-000000.tar",
        table,
        np.array([0, 1]),
        [(str(tmp_path / "a.jpg"), 6)] * 2,
        caption_only,
    )
    write_shard(ChunkTask("shard", pickle.loads(pickle.dumps(spec)), "fp"), tmp_path / "out")
    with tarfile.open(tmp_path / "out" / spec.relpath) as tar:
        assert tar.getnames() == ["s0.jpg", "s0.txt", "s1.jpg", "s1.txt"]
        assert tar.extractfile("s1.txt").read() == b"caption-1"


def caption_only(columns):
    return lambda row: {"txt": row["caption"].encode()}
