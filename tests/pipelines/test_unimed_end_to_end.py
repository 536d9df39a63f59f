"""`kedro run --pipelines unimed` on the generated sample data (the chest sources and
UniMed's image–text sources), run with the real `kedro` command in a copy of the project;
the shards are read exactly as open_clip reads them."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
import webdataset as wds

from tests.pipelines.conftest import kedro_run, output_digests, project_copy
from unimed_kedro.sampledata import generate_unimed

pytestmark = pytest.mark.xdist_group("unimed")
FOLDERS = {
    "chexpert", "chest_xray8", "mimic_cxr", "openi", "radimagenet", "retina", "quilt_1m",
    "pmc_oa", "rocov2", "llava_med_alignment", "llava_med_instruct",
}  # fmt: skip


class UnimedBuild:
    def __init__(self, root: Path):
        self.raw = root / "raw"
        self.expected = generate_unimed(self.raw, seed=0)
        self.project = project_copy(root / "project")
        self.run()
        self.out = self.project / "data" / "05_model_input" / "unimed"
        self.reports = self.project / "data" / "08_reporting" / "unimed"

    def run(self) -> None:
        kedro_run(self.project, "--pipelines", "unimed", "--params", f"raw_root={self.raw}")

    def digests(self) -> dict[str, str]:
        return output_digests(self.project, self.out, self.reports)

    def rejects(self) -> pd.DataFrame:
        return pd.read_csv(self.reports / "rejects.csv")


@pytest.fixture(scope="module")
def unimed(tmp_path_factory) -> UnimedBuild:
    return UnimedBuild(tmp_path_factory.mktemp("unimed"))


def open_clip_samples(folder: Path) -> list[dict]:
    shards = sorted(str(p) for p in folder.glob("*.tar"))
    pipeline = (
        wds.WebDataset(shards, shardshuffle=False)
        .select(lambda s: "txt" in s)
        .decode("pilrgb")
        .rename(image="jpg;png", text="txt", meta="json")
    )
    return list(pipeline)


def test_every_folder_reads_as_open_clip_reads_it(unimed: UnimedBuild) -> None:
    folders = {p.name.removesuffix("_webdataset") for p in unimed.out.glob("*_webdataset")}
    assert folders == FOLDERS
    keys: set[str] = set()
    for name in sorted(folders):
        folder = unimed.out / f"{name}_webdataset"
        sizes = json.loads((folder / "sizes.json").read_text())
        assert sorted(sizes) == sorted(p.name for p in folder.glob("*.tar"))
        assert sorted(sizes)[0] == f"{name}-000000.tar" and all(sizes.values())
        samples = open_clip_samples(folder)
        assert len(samples) == sum(sizes.values())
        for sample in samples:
            assert sample["image"].mode == "RGB" and sample["text"].strip()
            meta = sample["meta"]
            assert meta["source"] == name and sample["text"] in meta["captions"]
            assert all(c.strip() for c in meta["captions"])
            keys.add(sample["__key__"])
    assert len(keys) == sum(len(open_clip_samples(p)) for p in unimed.out.glob("*_webdataset"))


def test_mixture_matches_the_shards(unimed: UnimedBuild) -> None:
    mixture = json.loads((unimed.out / "mixture.json").read_text())
    patterns = mixture["train_data"].split("::")
    assert len(patterns) == len(mixture["upsampling_factors"].split("::")) == len(FOLDERS)
    total = 0
    for pattern, entry in zip(patterns, mixture["sources"]):
        folder = unimed.out / f"{entry['name']}_webdataset"
        sizes = json.loads((folder / "sizes.json").read_text())
        assert entry["shards"] == len(sizes) and entry["samples"] == sum(sizes.values())
        assert (
            pattern
            == f"{entry['name']}_webdataset/{entry['name']}-{{000000..{len(sizes) - 1:06d}}}.tar"
        )
        total += entry["samples"]
    assert mixture["train_num_samples"] == total


def test_conservation_with_held_out_records(unimed: UnimedBuild) -> None:
    stats = json.loads((unimed.reports / "statistics.json").read_text())["sources"]
    for name, entry in stats.items():
        assert entry["raw_records"] == entry["exported"] + entry["rejected"] + entry["held_out"]
        assert entry["raw_records"] == unimed.expected[name]["records"], name
    assert stats["rocov2"]["held_out"] >= unimed.expected["rocov2"]["held_out"]
    card = (unimed.reports / "datacard.md").read_text()
    assert "Exported + rejected + held out = raw" in card and "✗" not in card


def test_duplicates_are_exported_once_and_name_the_kept_sample(unimed: UnimedBuild) -> None:
    rejects = unimed.rejects()
    dups = rejects[rejects["reason"].eq("duplicate")]
    assert len(dups) and set(dups["source"]) <= {
        "pmc_oa",
        "llava_med_alignment",
        "llava_med_instruct",
    }
    exported = set()
    for folder in unimed.out.glob("*_webdataset"):
        exported |= {s["__key__"] for s in open_clip_samples(folder)}
    for detail in dups["detail"]:
        kept = detail.split("same image bytes as ")[1].split(",")[0]
        assert kept in exported
    assert (unimed.reports / "duplicates.csv").read_text().startswith("source_a,source_b")


def test_evaluation_data_is_held_out(unimed: UnimedBuild) -> None:
    rejects = unimed.rejects()
    held = rejects[rejects["reason"].eq("official_eval_split")]
    assert {"rocov2", "chexpert", "mimic", "nih"} <= set(held["source"])
    # ROCOv2's valid image copied in PMC-OA: every copy held out
    assert "pmc_oa" in set(held["source"])


def test_a_rerun_is_byte_identical(unimed: UnimedBuild) -> None:
    before = unimed.digests()
    unimed.run()
    assert unimed.digests() == before
