"""Ingest node behaviour that needs no sample build."""

import logging

from unimed_kedro.sources.base import RawSource
from unimed_kedro.stages.ingest.nodes import ingest_source


def test_absent_or_empty_source_is_skipped_with_one_log_line(tmp_path, vocabulary, caplog):
    (tmp_path / "openi").mkdir()
    with caplog.at_level(logging.WARNING):
        for raw in (RawSource("nih", tmp_path / "chest_xray8"), RawSource("openi", tmp_path / "openi")):
            manifest, rejects, info = ingest_source(raw, vocabulary)
            assert len(manifest) == 0 and len(rejects) == 0 and info["present"] is False
            assert "raw_relpath" in manifest and "reason" in rejects
    assert [r.message.split(":")[0] for r in caplog.records] == ["nih", "openi"]
    assert all("source skipped" in r.message for r in caplog.records)
