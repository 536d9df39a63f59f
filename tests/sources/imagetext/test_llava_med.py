import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.sources.helpers import write_jpeg
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext import llava_med
from unimed_kedro.sources.imagetext.llava_med import LLaVAMedAlignment, LLaVAMedInstruct

ALIGNMENT = "llava_med_alignment_500k_filtered.json"
INSTRUCT = "llava_med_instruct_fig_captions.json"


def _aligned(image: str, *turns: tuple[str, str]) -> dict:
    turns = turns or (("human", "<image>\nDescribe the image."), ("gpt", f"Caption of {image}."))
    return {
        "id": image[:-4],
        "image": image,
        "conversations": [{"from": who, "value": text} for who, text in turns],
    }


def _figure(pair_id: str, caption, mention) -> dict:
    return {
        "pmid": pair_id.split("_")[0],
        "pair_id": pair_id,
        "fig_label": "Figure 1",
        "fig_caption": caption,
        "in_text_mention": mention,
        "domain": {"ct_scan": True},
    }


def _alignment(root: Path):
    return LLaVAMedAlignment(root, {}, name="llava_med_alignment").read()


def _instruct(root: Path):
    return LLaVAMedInstruct(root, {}, name="llava_med_instruct").read()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "llava_med"
    for seed, stem in enumerate(["1_F1", "2_F1", "3_F1", "4_F1", "5_F1", "6_F1", "7_F1"]):
        write_jpeg(root / "images" / f"{stem}.jpg", seed=seed)
    entries = [
        json.dumps(_aligned("1_F1.jpg")),
        # the caption is the first gpt turn, wherever it is
        json.dumps(
            _aligned("2_F1.jpg", ("gpt", "First answer."), ("human", "More?"), ("gpt", "Second."))
        ),
        json.dumps(_aligned("1_F1.jpg", ("human", "<image>"), ("gpt", "Another caption."))),
        json.dumps(_aligned("9_F1.jpg")),  # never downloaded
        json.dumps(_aligned("3_F1.jpg", ("human", "<image>"), ("gpt", "  "))),
        json.dumps({"id": "x", "image": "4_F1.jpg"}),  # no conversations
        '{"id": "y", "image": "4_F1.jpg", "conversations": [}',  # no JSON
        json.dumps("just a string"),
        json.dumps(_aligned("../../etc/passwd")),
        json.dumps(_aligned("4_F1.jpg")),  # read on after the bad entries
    ]
    (root / ALIGNMENT).write_text("[\n" + ",\n".join(entries) + "\n]\n")
    instruct = {
        "ct_scan": [
            _figure("1_F1", "Axial CT.", [{"tokens": "CT showed a mass ( Figure 1 ) ."}]),
            _figure("5_F1", float("nan"), [{"tokens": "Only the mention."}]),
            _figure("6_F1", "Only the caption.", None),
            _figure("9_F1", "Never downloaded.", None),
            {"fig_caption": "no pair id"},
        ],
        "mri": [
            _figure("7_F1", "Caption.", []),
            _figure("3_F1", float("nan"), None),  # nothing to caption with
            _figure("1_F1", "Axial CT.", [{"tokens": "A second mention."}]),  # again
        ],
    }
    (root / INSTRUCT).write_text(json.dumps(instruct, indent=2))
    return root


def test_alignment_one_record_per_image(root):
    manifest, _, _ = _alignment(root)
    assert list(manifest["sample_id"]) == [
        "llava_med_alignment-1_f1",
        "llava_med_alignment-2_f1",
        "llava_med_alignment-4_f1",
    ]
    by_id = manifest.set_index("sample_id")
    first = by_id.loc["llava_med_alignment-1_f1"]
    assert first.source_captions == ["Caption of 1_F1.jpg.", "Another caption."]
    assert first.raw_relpath == "images/1_F1.jpg" and first.modality == "figure"
    assert first.official_split is None and first.dataset is None
    assert by_id.loc["llava_med_alignment-2_f1"].source_captions == ["First answer."]


def test_alignment_rejects_name_the_line(root):
    _, rejects, _ = _alignment(root)
    assert sorted(zip(rejects["row"], rejects["reason"])) == [
        (5, "missing_file"),
        (6, "no_caption"),
        (7, "malformed_entry"),
        (8, "malformed_entry"),
        (9, "malformed_entry"),
        (10, "outside_raw_root"),
    ]
    assert set(rejects["file"]) == {ALIGNMENT}
    details = " ".join(rejects["detail"])
    assert "entry [5]" in details and "entry [6]: not JSON" in details


def test_instruct_one_record_per_figure(root):
    manifest, rejects, _ = _instruct(root)
    by_id = manifest.set_index("sample_id")
    assert list(by_id.index) == [
        "llava_med_instruct-1_f1",
        "llava_med_instruct-5_f1",
        "llava_med_instruct-6_f1",
        "llava_med_instruct-7_f1",
    ]
    # UniMed's two passes (figure caption, first in-text mention) as one record; the
    # pair's second listing (another domain) adds its mention
    assert by_id.loc["llava_med_instruct-1_f1"].source_captions == [
        "Axial CT.",
        "CT showed a mass ( Figure 1 ) .",
        "A second mention.",
    ]
    assert by_id.loc["llava_med_instruct-5_f1"].source_captions == ["Only the mention."]
    assert by_id.loc["llava_med_instruct-6_f1"].source_captions == ["Only the caption."]
    assert by_id.loc["llava_med_instruct-7_f1"].source_captions == ["Caption."]
    assert list(by_id["dataset"]) == ["ct_scan", "ct_scan", "ct_scan", "mri"]
    assert by_id.loc["llava_med_instruct-6_f1"].raw_relpath == "images/6_F1.jpg"
    assert sorted(rejects["reason"]) == ["malformed_entry", "missing_file", "no_caption"]
    assert set(rejects["file"]) == {INSTRUCT} and rejects["row"].notna().all()


def test_instruct_as_a_plain_list(tmp_path):
    write_jpeg(tmp_path / "images" / "1_F1.jpg")
    entries = [_figure("1_F1", "A caption.", [{"tokens": "A mention."}])]
    (tmp_path / INSTRUCT).write_text(json.dumps(entries))
    manifest, rejects, _ = _instruct(tmp_path)
    assert manifest.iloc[0].source_captions == ["A caption.", "A mention."]
    assert manifest.iloc[0].dataset is None and rejects.empty


def test_the_two_files_share_the_image_folder(root):
    aligned = set(_alignment(root).manifest["raw_relpath"])
    instructed = set(_instruct(root).manifest["raw_relpath"])
    # both keep their record of the shared image: the pipeline keeps one copy
    assert aligned & instructed == {"images/1_F1.jpg"}


def test_one_file_without_the_other(root):
    (root / INSTRUCT).unlink()
    manifest, rejects, _ = _instruct(root)
    assert manifest.empty and rejects.empty
    assert len(_alignment(root).manifest) == 3


def test_unfiltered_alignment_file_name(root):
    (root / ALIGNMENT).rename(root / "llava_med_alignment_500k.json")
    manifest, rejects, _ = _alignment(root)
    assert len(manifest) == 3 and set(rejects["file"]) == {"llava_med_alignment_500k.json"}


def test_layout_errors(tmp_path):
    write_jpeg(tmp_path / "images" / "1_F1.jpg")
    for read in (_alignment, _instruct):
        with pytest.raises(LayoutError, match="llava_med_alignment_500k_filtered.json"):
            read(tmp_path)
    path = tmp_path / ALIGNMENT
    path.write_text('[\n{"id": "1", "image": "1_F1.jpg", "conversations": []},\n{"id": "2", "ima')
    with pytest.raises(LayoutError, match=f"{ALIGNMENT}: the entry at line 3 never ends"):
        _alignment(tmp_path)
    path.write_text('{"image": "1_F1.jpg"} {"image": "2_F1.jpg"}')
    with pytest.raises(LayoutError, match="more text after"):
        _alignment(tmp_path)
    path.write_text("")
    with pytest.raises(LayoutError, match="empty"):
        _alignment(tmp_path)


def test_the_array_is_streamed(root, monkeypatch):
    """Read a few characters at a time, never parsed whole: the same records and rejects,
    on the indented and on the one-line file alike."""
    expected = _alignment(root)
    text = (root / ALIGNMENT).read_text()
    monkeypatch.setattr(llava_med, "_CHUNK", 7)
    monkeypatch.setattr(json, "load", None)  # a whole-file parse would fail
    monkeypatch.setattr(json, "loads", None)
    streamed = _alignment(root)
    assert streamed.manifest.equals(expected.manifest)
    assert streamed.rejects.equals(expected.rejects)
    monkeypatch.undo()
    (root / ALIGNMENT).write_text(text.replace("\n", " "))  # strings hold only "\\n"
    monkeypatch.setattr(llava_med, "_CHUNK", 5)
    flat = _alignment(root)
    assert flat.manifest.equals(expected.manifest)
    assert list(flat.rejects["reason"]) == list(expected.rejects["reason"])
    assert set(flat.rejects["row"]) == {1}  # one line: the entry index tells them apart


def test_sample_data_reads_as_expected(tmp_path):
    from unimed_kedro.sampledata.unimed import llava_med as sample

    expected = sample.write(tmp_path, np.random.default_rng(3))
    for name, read in (("llava_med_alignment", _alignment), ("llava_med_instruct", _instruct)):
        manifest, rejects, _ = read(tmp_path / "llava_med")
        want = expected[name]
        later = want["rejects"].get("corrupt_image", 0)  # found when normalizing
        assert len(manifest) + len(rejects) == want["records"]
        ingest = {k: v for k, v in want["rejects"].items() if k != "corrupt_image"}
        assert dict(Counter(rejects["reason"])) == ingest
        assert len(manifest) - later == want["exported"]
        assert set(want["shared_with"]) <= set(manifest["sample_id"])


@pytest.mark.parametrize("chunk", [1, 2, 3, 64])
def test_stream_values_split_across_chunks(tmp_path, monkeypatch, chunk):
    """Numbers, literals, escapes and nesting cut anywhere by a chunk end read whole."""
    values = [12345, -6.5e3, True, None, 'a "q" \\ [ { ,', {"k": [1, {"n": []}]}, "é\u2028"]
    path = tmp_path / "x.json"
    path.write_text(json.dumps({"g": values, "one": {"pair_id": "p"}}, ensure_ascii=False))
    monkeypatch.setattr(llava_med, "_CHUNK", chunk)
    with open(path, encoding="utf-8") as handle:
        entries = list(llava_med.JSONStream(handle, path, "entries").entries())
    assert [e.value for e in entries] == [*values, {"pair_id": "p"}]
    assert [e.group for e in entries] == ["g"] * len(values) + [None]
    assert entries[-1].label == '["one"]' and all(e.problem is None for e in entries)
