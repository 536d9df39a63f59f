"""A missing source is just missing (issue 15): a build from any subset of cxr's sources
completes with the real `kedro run`, and what the present sources hold comes out as in a
build from all four (same samples, same captions, same rejects).

Subsets: a source folder deleted, its official CSVs reduced to their header, or left as an
empty folder (how a DVC user leaves a source out). Before the fix, the records of a build
without CheXpert held its shipped-captions column as all-NaN floats and the caption node
crashed on them.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest

from tests.pipelines.conftest import Build, kedro_run, project_copy
from unimed_kedro.sampledata import generate_cxr
from unimed_kedro.schema import IMAGE
from unimed_kedro.sources.base import RawSource
from unimed_kedro.sources.registry import entry
from unimed_kedro.stages.ingest.nodes import ingest_source, merge_tables

SOURCES = ["chexpert", "nih", "mimic", "openi"]


def _delete(folder: Path) -> None:
    shutil.rmtree(folder)


def _header_only(folder: Path) -> None:
    for table in folder.glob("*.csv"):
        table.write_text(table.read_text().splitlines()[0] + "\n")


def _empty(folder: Path) -> None:
    shutil.rmtree(folder)
    folder.mkdir()


# name -> {source: how its folder is broken}; sources not named stay as generated
SUBSETS = {
    "only_nih": {"chexpert": _delete, "mimic": _delete, "openi": _delete},
    "chexpert_csvs_header_only": {"chexpert": _header_only},
    "mimic_and_openi_others_empty": {"chexpert": _empty, "nih": _empty},
}


def _build(root: Path, broken: dict) -> tuple[Build, set[str]]:
    raw = root / "raw"
    expected = generate_cxr(raw, seed=0)
    for source, breaks in broken.items():
        breaks(raw / entry(source).folder)
    project = project_copy(root / "project")
    log = kedro_run(project, "--pipelines", "cxr", "--params", f"raw_root={raw}")
    with_records = {s for s in SOURCES if s not in broken}
    return Build(project, raw, expected, log), with_records


def _samples(build: Build) -> pd.DataFrame:
    columns = ["sample_id", "source", "sha256", "caption", "caption_kind"]
    samples = pd.read_parquet(build.features / "samples.parquet", columns=columns)
    return samples.sort_values("sample_id").reset_index(drop=True)


@pytest.mark.parametrize("subset", sorted(SUBSETS))
def test_a_build_from_a_subset_of_sources_completes_and_keeps_theirs(subset, cxr_build, tmp_path):
    build, present = _build(tmp_path, SUBSETS[subset])  # kedro_run asserts exit code 0
    stats = build.statistics()
    assert set(stats["sources"]) == present
    for source in present:
        got, expected = stats["sources"][source], build.expected[source]
        assert got["raw_records"] == expected["records"], source
        assert got["rejected_by_reason"] == expected["rejects"], source
        assert got["exported"] + got["rejected"] == expected["records"] and got["conserved"]
    # nothing good lost: the present sources' samples and captions are the full build's
    full = _samples(cxr_build)
    assert _samples(build).equals(full[full["source"].isin(present)].reset_index(drop=True))
    assert _samples(build)["caption"].str.strip().all()
    rejects = pd.read_csv(build.reports / "rejects.csv")
    full_rejects = pd.read_csv(cxr_build.reports / "rejects.csv")
    assert set(rejects["source"]) <= present
    assert len(rejects) == full_rejects["source"].isin(present).sum()
    infos = json.loads((build.project / "data/02_intermediate/cxr/sources.json").read_text())
    deleted = {s for s, breaks in SUBSETS[subset].items() if breaks is not _header_only}
    assert {s for s, info in infos.items() if not info["present"]} == deleted
    for name in ("datacard.md", "datacard.html", "thumbnails.png", "split_report.csv"):
        assert (build.reports / name).stat().st_size > 0, name


def test_manifests_have_their_kinds_dtypes_whatever_a_source_fills(tmp_path, vocabulary):
    labels = list(vocabulary["labels"]["union"])
    floats = ["age", *[f"label_{name}" for name in labels]]
    absent, *_ = ingest_source(RawSource("nih", tmp_path / "absent"), vocabulary)
    assert len(absent) == 0 and list(absent.columns) == IMAGE.manifest_columns(labels)
    assert (absent[floats].dtypes == "float64").all()
    # a source filling no shipped captions: the frame holds NaN floats there, as a reader's
    # records without the key give it; the record kind conforms it
    row = {"sample_id": "nih-a", "source": "nih", "label_edema": 1.0}
    filled = IMAGE.conform(pd.DataFrame([row]), labels)
    assert filled.loc[0, "source_captions"] is None and filled["source_captions"].dtype == object
    merged = merge_tables(absent, filled)
    merged.to_parquet(tmp_path / "records.parquet")
    back = pd.read_parquet(tmp_path / "records.parquet")
    assert back["source_captions"].dtype == object and back["source_captions"].isna().all()
    assert (back[floats].dtypes == "float64").all() and back.loc[0, "label_edema"] == 1.0
