import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.sources.helpers import write_jpeg
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.pmc_oa import PMCOA, SUBFIGURES

IMAGES = SUBFIGURES


def _line(image: str, caption: str, **extra) -> str:
    return json.dumps({"image": image, "caption": caption, **extra})


def _folder(root: Path, lines: list[str], images: list[str], *, folder: str = IMAGES) -> Path:
    for seed, name in enumerate(images):
        write_jpeg(root / folder / name, seed=seed)
    (root / "pmc_oa.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return root


def _read(root: Path):
    return PMCOA(root, {}, name="pmc_oa").read()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    lines = [
        _line("PMC212319_Fig3_4.jpg", "  CT of the abdomen.\n", alignment_type="ocr"),
        _line("PMC212319_Fig3_5.jpg", "MRI, T2 weighted."),
        "",  # a blank line: no record
        _line("PMC212319_Fig3_4.jpg", "Axial view (arrow)."),  # the same subfigure again
        _line("PMC4608653_pone.0140254.g002_1.jpg", "Histology."),
        '{"image": "PMC1_F1_1.jpg", "capt',  # cut short
        json.dumps({"caption": "no image"}),
        json.dumps(["PMC1_F1_2.jpg", "a list"]),
        _line("PMC1_F1_3.jpg", ""),
        _line("PMC1_F1_4.jpg", "Not unzipped."),
        _line("../../etc/passwd", "Escapes."),
    ]
    images = [
        "PMC212319_Fig3_4.jpg",
        "PMC212319_Fig3_5.jpg",
        "PMC4608653_pone.0140254.g002_1.jpg",
        "PMC1_F1_3.jpg",
    ]
    return _folder(tmp_path / "pmc_oa", lines, images)


def test_one_record_per_image_with_every_caption(root):
    manifest, _, _ = _read(root)
    assert list(manifest["sample_id"]) == [
        "pmc_oa-pmc212319_fig3_4",
        "pmc_oa-pmc212319_fig3_5",
        "pmc_oa-pmc4608653_pone_0140254_g002_1",
    ]
    first = manifest.iloc[0]
    assert first.source_captions == ["CT of the abdomen.", "Axial view (arrow)."]
    assert first.raw_relpath == f"{IMAGES}/PMC212319_Fig3_4.jpg"
    assert first.modality == "figure" and first.official_split is None
    assert first.patient_id == "pmc_oa:PMC212319_Fig3_4" and first.findings == []


def test_bad_lines_are_rejects_naming_the_line(root):
    _, rejects, corrections = _read(root)
    found = {(r.reason, r.row) for r in rejects.itertuples()}
    assert found == {
        ("bad_json_line", 6),
        ("malformed_entry", 7),
        ("malformed_entry", 8),
        ("no_caption", 9),
        ("missing_file", 10),
        ("outside_raw_root", 11),
    }
    assert set(rejects["file"]) == {"pmc_oa.jsonl"} and corrections.empty
    no_caption = rejects[rejects.reason == "no_caption"].iloc[0]
    assert no_caption.sample_id == "pmc_oa-pmc1_f1_3"


def test_repeated_lines_of_a_missing_image_are_one_reject(tmp_path):
    lines = [_line("PMC9_F1_1.jpg", "One."), _line("PMC9_F1_1.jpg", "Two.")]
    root = _folder(tmp_path, lines, [])
    (root / IMAGES).mkdir()
    manifest, rejects, _ = _read(root)
    assert manifest.empty
    assert list(zip(rejects["reason"], rejects["row"])) == [("missing_file", 1)]


@pytest.mark.parametrize("folder", [f"images/{IMAGES}", "images"])
def test_other_image_folders(tmp_path, folder):
    root = _folder(tmp_path, [_line("PMC7_F2_1.jpg", "A chart.")], ["PMC7_F2_1.jpg"], folder=folder)
    manifest, rejects, _ = _read(root)
    assert list(manifest["raw_relpath"]) == [f"{folder}/PMC7_F2_1.jpg"] and rejects.empty


def test_older_release_split_files(tmp_path):
    for number, (name, image) in enumerate(
        [("train", "PMC1_F1_1.jpg"), ("valid", "PMC2_F1_1.jpg"), ("test", "PMC3_F1_1.jpg")]
    ):
        write_jpeg(tmp_path / IMAGES / image, seed=number)
        line = _line(image, f"{name} caption", pmcid=image[:4], url_name=f"{image[:4]}.tar.gz")
        (tmp_path / f"{name}.jsonl").write_text(line + "\n")
    manifest, rejects, _ = _read(tmp_path)
    assert dict(zip(manifest["raw_relpath"].str[-13:], manifest["official_split"])) == {
        "PMC1_F1_1.jpg": "train",
        "PMC2_F1_1.jpg": "val",
        "PMC3_F1_1.jpg": "test",
    }
    assert rejects.empty


def test_pmc_oa_jsonl_wins_over_the_split_files(tmp_path):
    root = _folder(tmp_path, [_line("PMC1_F1_1.jpg", "Current.")], ["PMC1_F1_1.jpg"])
    (root / "test.jsonl").write_text(_line("PMC1_F1_1.jpg", "Old.") + "\n")
    manifest, _, _ = _read(root)
    assert list(manifest["official_split"]) == [None]
    assert manifest.iloc[0].source_captions == ["Current."]


def test_bom_crlf_and_undecodable_bytes(tmp_path):
    root = _folder(tmp_path, [], ["PMC1_F1_1.jpg", "PMC1_F1_2.jpg"])
    good = _line("PMC1_F1_1.jpg", "Fine.").encode()
    bad = b'{"image": "PMC1_F1_2.jpg", "caption": "caf\xe9"}'  # Latin-1, not UTF-8
    (root / "pmc_oa.jsonl").write_bytes(b"\xef\xbb\xbf" + good + b"\r\n" + bad + b"\r\n")
    manifest, rejects, _ = _read(root)
    assert list(manifest["sample_id"]) == ["pmc_oa-pmc1_f1_1"]
    assert list(zip(rejects["reason"], rejects["row"])) == [("bad_json_line", 2)]


def test_layout_errors(tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    with pytest.raises(LayoutError, match="pmc_oa.jsonl"):
        _read(tmp_path)
    (tmp_path / "pmc_oa.jsonl").write_text(_line("PMC1_F1_1.jpg", "x") + "\n")
    with pytest.raises(LayoutError, match=IMAGES):
        _read(tmp_path)


def test_sample_data_reads_as_expected(tmp_path):
    from unimed_kedro.sampledata.unimed import pmc_oa

    expected = pmc_oa.write(tmp_path, np.random.default_rng(3))["pmc_oa"]
    manifest, rejects, _ = _read(tmp_path / "pmc_oa")
    assert len(manifest) + len(rejects) == expected["records"]
    assert dict(Counter(rejects["reason"])) == expected["rejects"]
    assert len(manifest) == expected["exported"] and (tmp_path / "pmc_oa/.unimed-sample").is_file()
    assert set(expected["shared_with"]) <= set(manifest["sample_id"])
