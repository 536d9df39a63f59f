"""What the datasets let kedro-viz publish, on a small collection folder: samples of
redistributable sources only (read from the collection's sources.json), and no absolute
path in a description (`datasets/previews.py`)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import encode, radiograph
from unimed_kedro.datasets import ChunkStoreDataset, ParquetTableDataset, PngDataset
from unimed_kedro.datasets.previews import published_path, withheld_image
from unimed_kedro.imaging.contact_sheet import contact_sheet

SOURCES = {"open": {"redistributable": True}, "closed": {"redistributable": False}}


@pytest.fixture
def data(tmp_path, monkeypatch) -> Path:
    """`data/` of a project whose collection `col` has one open and one closed source."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "data/02_intermediate/col").mkdir(parents=True)
    (tmp_path / "data/02_intermediate/col/sources.json").write_text(json.dumps(SOURCES))
    return tmp_path / "data"


def _store(data: Path) -> tuple[Path, dict[str, bytes]]:
    store = data / "04_feature/col/images"
    (store / "chunk-000000").mkdir(parents=True)
    images = {}
    for i, sample in enumerate(["closed-a", "closed-b", "open-a", "open-b"]):
        images[sample] = encode(radiograph(64, 64, seed=i))
        (store / "chunk-000000" / f"{sample}.jpg").write_bytes(images[sample])
    pd.DataFrame(
        {"sample_id": list(images), "file": [f"chunk-000000/{s}.jpg" for s in images]}
    ).to_parquet(store / "index.parquet")
    return store, images


def test_the_store_sheet_draws_redistributable_sources_only(data):
    store, images = _store(data)
    preview = base64.b64decode(ChunkStoreDataset(path=str(store)).preview())
    assert preview == contact_sheet([images["open-a"], images["open-b"]])
    (data / "02_intermediate/col/sources.json").unlink()  # nothing to go by: none shown
    withheld = base64.b64decode(ChunkStoreDataset(path=str(store)).preview())
    assert withheld == withheld_image("no stored image is of a redistributable source")


def test_a_whole_collection_image_is_withheld_unless_every_source_is_open(data):
    sheet = data / "08_reporting/col/thumbnails.png"
    sheet.parent.mkdir(parents=True)
    png = contact_sheet([encode(radiograph(64, 64))])
    sheet.write_bytes(png)
    assert base64.b64decode(PngDataset(filepath=str(sheet)).preview()) != png
    only_open = data / "only_open.json"
    only_open.write_text(json.dumps({"open": SOURCES["open"]}))
    shown = PngDataset(filepath=str(sheet), preview_sources=str(only_open)).preview()
    assert base64.b64decode(shown) == png


def test_tables_show_rows_of_redistributable_sources_only(data):
    path = data / "02_intermediate/col/records.parquet"
    pd.DataFrame({"sample_id": ["closed-a", "open-a"], "source": ["closed", "open"]}).to_parquet(
        path
    )
    preview = ParquetTableDataset(filepath=str(path)).preview()
    assert preview["data"] == [["open-a", "open"]]


def test_descriptions_hold_no_absolute_path(data, tmp_path):
    store, _ = _store(data)
    assert ChunkStoreDataset(path=str(store.resolve()))._describe() == {
        "path": "data/04_feature/col/images"
    }
    assert published_path("/somewhere/else/raw/nih", "<raw_root>", parts=1) == "<raw_root>/nih"
    assert str(tmp_path) not in json.dumps(
        ParquetTableDataset(filepath=str(data / "x.parquet"))._describe(), default=str
    )
