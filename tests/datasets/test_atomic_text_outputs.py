"""The report's text and CSV outputs (data card, SVG charts, rejects, corrections, split
report) appear whole or not at all, with the bytes kedro-datasets wrote."""

from __future__ import annotations

import inspect

import pandas as pd
import pytest
import yaml
from kedro.io import DatasetError
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.text import TextDataset as KedroTextDataset

from tests.conftest import PROJECT
from unimed_kedro import datasets
from unimed_kedro.datasets import CSVTableDataset, TextDataset

SAVE_ARGS = {"index": False, "lineterminator": "\n"}
CARD = "# Data card\n\nÄrzte, 患者 — `raw_root` = data/01_raw\n<svg>\u2013</svg>\n"


class Unprintable:
    """A cell whose text cannot be made: the CSV writer fails partway through the table."""

    def __str__(self) -> str:
        raise RuntimeError("no text for this cell")


def _table(rows: int = 50) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "sample_id": [f"s-{i}" for i in range(rows)],
            "detail": [f"réason, “{i}”" for i in range(rows)],
        }
    )


def test_text_bytes_match_kedro_datasets(tmp_path):
    ours, theirs = tmp_path / "ours.md", tmp_path / "theirs.md"
    TextDataset(filepath=str(ours)).save(CARD)
    utf8 = {"open_args_save": {"encoding": "utf-8"}}
    KedroTextDataset(filepath=str(theirs), fs_args=utf8).save(CARD)
    assert ours.read_bytes() == theirs.read_bytes()
    assert TextDataset(filepath=str(ours)).load() == CARD


def test_csv_bytes_match_kedro_datasets(tmp_path):
    ours, theirs = tmp_path / "ours.csv", tmp_path / "theirs.csv"
    CSVTableDataset(filepath=str(ours), save_args=SAVE_ARGS).save(_table())
    CSVDataset(filepath=str(theirs), save_args=SAVE_ARGS).save(_table())
    assert ours.read_bytes() == theirs.read_bytes()
    pd.testing.assert_frame_equal(CSVTableDataset(filepath=str(ours)).load(), _table())


def test_failed_text_save_keeps_the_previous_file(tmp_path):
    path = tmp_path / "datacard.md"
    dataset = TextDataset(filepath=str(path))
    dataset.save(CARD)
    with pytest.raises(DatasetError):
        dataset.save("half a card\n" + "\udcff")  # cannot be encoded: fails mid-save
    assert path.read_text(encoding="utf-8") == CARD
    assert sorted(p.name for p in tmp_path.iterdir()) == ["datacard.md"]


def test_failed_csv_save_keeps_the_previous_file(tmp_path):
    path = tmp_path / "rejects.csv"
    dataset = CSVTableDataset(filepath=str(path), save_args=SAVE_ARGS)
    dataset.save(_table())
    before = path.read_bytes()
    broken = _table(5000).astype(object)
    broken.loc[4999, "detail"] = Unprintable()
    with pytest.raises(DatasetError):
        dataset.save(broken)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rejects.csv"]


def test_previews(tmp_path):
    svg = tmp_path / "chart.svg"
    TextDataset(filepath=str(svg)).save("<svg><rect/></svg>")
    assert TextDataset(filepath=str(svg)).preview() == "<svg><rect/></svg>"
    md = tmp_path / "card.md"
    TextDataset(filepath=str(md)).save("a < b\n")
    assert TextDataset(filepath=str(md)).preview() == "<pre>a &lt; b\n</pre>"
    table = tmp_path / "t.csv"
    CSVTableDataset(filepath=str(table), save_args=SAVE_ARGS).save(_table(3))
    preview = CSVTableDataset(filepath=str(table)).preview()
    assert preview["columns"] == ["sample_id", "detail"] and len(preview["data"]) == 3


def test_text_description_gives_the_path_inside_the_project(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    card = TextDataset(filepath=str(tmp_path / "data" / "datacard.md"))
    assert card._describe() == {"filepath": "data/datacard.md"}


def _catalog_types() -> dict[str, str]:
    """Every entry of the project's catalogs (the shared factories and each collection's)."""
    conf = PROJECT / "conf" / "base"
    return {
        f"{path.relative_to(conf)}:{name}": entry["type"]
        for path in [conf / "catalog.yml", *sorted(conf.glob("*/catalog.yml"))]
        for name, entry in yaml.safe_load(path.read_text()).items()
    }


def test_no_catalog_entry_writes_in_place():
    """Every output is one of this project's datasets, which write whole files only
    (temporary name renamed into place, or a folder committed whole), or held in memory:
    none of kedro-datasets' file datasets, which write in place."""
    types = _catalog_types()
    expected = {
        "CSVTableDataset": ["rejects", "corrections", "split_report"],
        "TextDataset": [
            "label_distribution_svg",
            "split_balance_svg",
            "datacard_html",
            "datacard_md",
        ],
        "JSONFileDataset": ["{source}.source_info", "sources", "statistics"],
    }
    for kind, names in expected.items():
        for name in names:
            assert types[f"catalog.yml:{{collection}}.{name}"] == f"unimed_kedro.datasets.{kind}"
    ours = {f"unimed_kedro.datasets.{name}" for name in datasets.__all__}
    assert {n: t for n, t in types.items() if t not in ours | {"MemoryDataset"}} == {}


def test_every_dataset_saves_with_its_own_code():
    """A subclass of a kedro-datasets file dataset would inherit its in-place save (Kedro
    wraps the inherited one: the code is what the wrapper wraps)."""
    saves = {name: inspect.unwrap(getattr(datasets, name).save) for name in datasets.__all__}
    assert {n: f.__qualname__ for n, f in saves.items() if "unimed_kedro" not in f.__module__} == {}
