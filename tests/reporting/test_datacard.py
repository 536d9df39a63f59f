"""The data card: complete, readable from disk without network, same content in Markdown."""

from __future__ import annotations

import html
import re

import pandas as pd
import pytest

from tests.conftest import CXR_SOURCES, source_infos
from tests.reporting.conftest import NAMES
from unimed_kedro.reporting import charts, datacard
from unimed_kedro.reporting.summary import label_counts, split_counts, split_prevalence
from unimed_kedro.reporting.thumbnails import Tile, pick_samples, thumbnail_sheet
from unimed_kedro.schema import rejects_frame

INFOS = source_infos(CXR_SOURCES)

NORMALIZE = {"image_size": 512, "quality": 95, "format": "jpeg", "color_mode": "L"}
PARAMS = {
    "collection": "cxr",
    "title": "cxr test card",
    "reject_examples": 1,
    "description": "Chest films with captions.",
}
PROVENANCE = {
    "command": "kedro run --pipelines cxr --params raw_root=/data/raw",
    "runtime_params": {"raw_root": "/data/raw"},
    "env": None,
    "kedro_version": "1.7.0",
    "git": {"commit": "abc123", "dirty": True},
    "dvc": "not tracked",
    "parameters": {"params:cxr.report": PARAMS},
}
# Anything that would make a browser fetch a URL.
REMOTE_LOADS = [
    r"<script[^>]*\bsrc=",
    r"<link[^>]*href=[\"']?https?:",
    r"@import",
    r"url\(\s*[\"']?https?:",
    r"<img[^>]*src=[\"']?https?:",
    r"<iframe",
    r"<object",
    r"<embed",
]


@pytest.fixture
def context(samples, statistics, rejects, corrections, jpeg) -> dict:
    picked = pick_samples(samples, 2, 42)
    sheet = thumbnail_sheet(
        [[Tile(jpeg, r.sample_id, r.source, r.caption) for r in picked.itertuples()]], side=64
    )
    counts = label_counts(samples, NAMES)
    chart_list = [
        datacard.Chart(
            "Labels", "label_distribution.svg", charts.label_distribution_svg(counts, "labels")
        ),
        datacard.Chart(
            "Splits",
            "split_balance.svg",
            charts.split_balance_svg(
                split_counts(samples), split_prevalence(samples, NAMES), "splits"
            ),
        ),
    ]
    return datacard.datacard_context(
        statistics=statistics,
        rejects=rejects,
        corrections=corrections,
        samples=samples,
        picked=picked,
        thumbnails=sheet,
        charts=chart_list,
        infos=INFOS,
        names=NAMES,
        normalize=NORMALIZE,
        provenance=PROVENANCE,
        params=PARAMS,
    )


def test_html_names_licence_citation_and_patient_rule_of_every_source(context, statistics):
    page = datacard.render_html(context)
    for name in statistics["sources"]:
        info = INFOS[name]
        for text in (info["title"], info["license"], info["citation"], info["patient_note"]):
            assert html.escape(text) in page, (name, text)
    assert page.count('class="badge no">no<') == 1  # chexpert
    assert page.count('class="badge yes">yes<') == 1  # nih
    assert "may not be redistributed" in page  # chexpert samples are shown


def test_html_shows_counts_per_source_split_and_label(context):
    page = datacard.render_html(context)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    # CheXpert row: raw 5, exported 3, rejected 2, patients 3, train 2, val 1, test 0
    start = cells.index("CheXpert-v1.0-small")
    assert cells[start : start + 9] == [
        "CheXpert-v1.0-small",
        "5",
        "3",
        "2",
        "3",
        "2",
        "1",
        "0",
        "✓",
    ]
    assert cells[cells.index("all sources") : cells.index("all sources") + 8] == [
        "all sources",
        "9",
        "6",
        "3",
        "5",
        "3",
        "1",
        "2",
    ]
    # the labels table comes after the per-split balance table, which names labels too
    start = cells.index("Pleural Effusion", cells.index("Pleural Effusion") + 1)
    # positives: chexpert 1 + nih 1 of 6 annotated (the uncertain one counts as annotated)
    assert cells[start : start + 7] == [
        "Pleural Effusion",
        "2",
        "3",
        "1",
        "0",
        "33.3 %",
        "chexpert, nih",
    ]
    assert "6</b><span>samples" in page


def test_html_rejects_table_and_examples(context):
    page = datacard.render_html(context)
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    start = cells.index("missing_file")
    assert cells[start : start + 4] == ["missing_file", "1", "1", "2"]
    assert "missing_file (ingest)" in page and "too_small (normalize)" in page
    assert "shorter side 96px, expected &gt;= 256px" in page  # escaped, not markup
    assert page.count("missing_file (ingest)") == 1  # reject_examples: 1 per reason


def _section(text: str, start: str, end: str) -> str:
    return text[text.index(start) : text.index(end, text.index(start))]


def test_corrections_section_counts_by_reason_with_examples(context):
    page = _section(datacard.render_html(context), '<section id="corrections">', "</section>")
    cells = re.findall(r"<td[^>]*>([^<]*)</td>", page)
    start = cells.index("age_out_of_range")
    assert cells[start : start + 4] == ["age_out_of_range", "1", "2", "3"]  # chexpert, nih
    assert page.count("age_out_of_range (ingest)") == 1  # reject_examples: 1 per reason
    assert "age &#39;148&#39; is impossible" in page and "corrections.csv" in page
    assert 'href="#corrections"' in datacard.render_html(context)
    text = _section(datacard.render_markdown(context), "## Corrections", "## Samples")
    assert "| age_out_of_range | 1 | 2 | 3 |" in text and "`corrections.csv`" in text
    assert "| age_out_of_range (ingest) | chexpert | `chexpert-p1_s1` | `train.csv` | 2 |" in text
    # corrections never show up among the rejects
    rejects = _section(datacard.render_markdown(context), "## Rejects", "## Corrections")
    assert "age_out_of_range" not in rejects


def test_html_is_self_contained(context):
    page = datacard.render_html(context)
    assert "data:image/png;base64," in page
    assert page.count("<svg") == 2 and "xmlns" not in page
    for pattern in REMOTE_LOADS:
        assert not re.search(pattern, page, flags=re.IGNORECASE), pattern
    assert "<b>markup</b>" not in page  # captions are text, never HTML


def test_html_records_provenance(context):
    page = datacard.render_html(context)
    assert "kedro run --pipelines cxr --params raw_root=/data/raw" in page
    assert "abc123 (with uncommitted changes)" in page
    assert "not tracked" in page and "raw_root: /data/raw" in page


def test_markdown_twin_has_the_same_content(context, statistics):
    text = datacard.render_markdown(context)
    for name in statistics["sources"]:
        info = INFOS[name]
        assert all(info[k] in text for k in ("license", "citation", "patient_note"))
    assert "| CheXpert-v1.0-small | 5 | 3 | 2 | 3 | 2 | 1 | 0 | ✓ |" in text
    assert "| missing_file | 1 | 1 | 2 |" in text
    assert "](thumbnails.png)" in text and "](label_distribution.svg)" in text
    assert "](split_balance.svg)" in text and "base64" not in text
    assert "`kedro run --pipelines cxr --params raw_root=/data/raw`" in text
    # cells cannot break the table or inject HTML
    assert "\\| with a pipe and \\<b\\>markup\\</b\\>" in text
    borders = None
    for line in text.splitlines():
        if not line.startswith("|"):
            borders = None
            continue
        count = len(re.findall(r"(?<!\\)\|", line))  # escaped pipes are not borders
        borders = borders or count
        assert count == borders, line


def test_same_inputs_same_bytes(context):
    assert datacard.render_html(context) == datacard.render_html(context)
    assert datacard.render_markdown(context) == datacard.render_markdown(context)


def test_empty_build_still_renders():
    empty = {"exported": 0, "rejected": 0, "splits": {}, "sources": {}}
    frame = pd.DataFrame(
        columns=[
            "sample_id",
            "source",
            "patient_id",
            "split",
            "caption",
            "caption_kind",
            "label_no_finding",
        ]
    )
    context = datacard.datacard_context(
        statistics=empty,
        rejects=rejects_frame([]),
        corrections=rejects_frame([]),
        samples=frame,
        picked=frame,
        thumbnails=thumbnail_sheet([]),
        charts=[],
        infos={},
        names=NAMES,
        normalize=NORMALIZE,
        provenance=PROVENANCE,
        params=PARAMS,
    )
    assert "0</b><span>samples" in datacard.render_html(context)
    assert "This build holds 0" in datacard.render_markdown(context)
    assert "<p>Nothing was corrected.</p>" in datacard.render_html(context)
    assert "\nNothing was corrected.\n" in datacard.render_markdown(context)


def test_provenance_view_names_the_dvc_stage():
    view = datacard.provenance_view(
        {
            **PROVENANCE,
            "runtime_params": {},
            "dvc": {"stages": {"cxr": "ab" * 32}, "dvc_repro_stage": "cxr"},
        }
    )
    assert view["dvc"] == f"dvc.lock cxr sha256 {'ab' * 8} (run by dvc repro, stage cxr)"
    assert view["runtime_params"] == "" and view["env"].startswith("default")


def test_balance_table_shows_prevalence_and_mix_per_split(samples):
    samples["view"] = ["PA", "AP", None, "PA", "PA", "AP"]
    table = datacard.balance_table(samples, NAMES, ("view",))
    assert table.columns == ["Label or value", "train", "val", "test"]
    rows = {row[0]: row[1:] for row in table.rows}
    # effusion among annotated train samples: chexpert p1 0, p2 uncertain, nih 1 positive
    assert rows["Pleural Effusion"] == ["33.3 %", "100.0 %", "0.0 %"]
    assert rows["Hernia"] == ["100.0 %", "", "0.0 %"]  # val: nobody annotated
    assert rows["View: AP"] == ["33.3 %", "0.0 %", "50.0 %"]
    assert rows["View: unknown"] == ["0.0 %", "100.0 %", "0.0 %"]
    split_rows = {row[0]: row for row in datacard.split_table(samples).rows}
    assert split_rows["test"][4] == "2.00"  # images per patient: nih patient 2's two films
