"""Ingest node behaviour that needs no sample build."""

import logging
import math

from tests.sources.helpers import write_png
from unimed_kedro.schema import REJECT_COLUMNS
from unimed_kedro.sources.base import RawSource
from unimed_kedro.stages.ingest.nodes import ingest_source, merge_tables

NIH_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)


def test_absent_or_empty_source_is_skipped_with_one_log_line(tmp_path, vocabulary, caplog):
    (tmp_path / "openi").mkdir()
    with caplog.at_level(logging.WARNING):
        for raw in (
            RawSource("nih", tmp_path / "chest_xray8"),
            RawSource("openi", tmp_path / "openi"),
        ):
            manifest, rejects, info, corrections = ingest_source(raw, vocabulary)
            assert len(manifest) == 0 and len(rejects) == 0 and info["present"] is False
            assert "raw_relpath" in manifest and "reason" in rejects
            assert list(corrections.columns) == REJECT_COLUMNS and len(corrections) == 0
    assert [r.message.split(":")[0] for r in caplog.records] == ["nih", "openi"]
    assert all("source skipped" in r.message for r in caplog.records)


def test_corrections_are_a_fourth_output_apart_from_the_rejects(tmp_path, vocabulary):
    root = tmp_path / "chest_xray8"
    write_png(root / "images" / "00000001_000.png")
    (root / "Data_Entry_2017_v2020.csv").write_text(
        f"{NIH_HEADER}\n00000001_000.png,Effusion,0,1,148,F,PA,2682,2749,0.143,0.143\n"
    )
    manifest, rejects, info, corrections = ingest_source(RawSource("nih", root), vocabulary)
    assert list(manifest["sample_id"]) == ["nih-00000001_000"] and len(rejects) == 0
    assert math.isnan(manifest.iloc[0].age) and info["name"] == "nih"
    assert list(corrections["reason"]) == ["age_out_of_range"]
    merged = merge_tables(corrections, corrections.iloc[:0])
    assert merged["sample_id"].tolist() == ["nih-00000001_000"]
