"""`kedro run --pipelines satds` on the generated sample data (every layout family and its
quirks), run with the real `kedro` command in a copy of the project; read back as SAT-DS's
training code reads the outputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tests.pipelines.conftest import kedro_run, output_digests, project_copy
from unimed_kedro.sampledata import generate_satds

pytestmark = pytest.mark.xdist_group("satds")


class SatdsBuild:
    def __init__(self, root: Path):
        self.raw = root / "raw"
        self.expected = generate_satds(self.raw, seed=0)
        self.project = project_copy(root / "project")
        self.log = kedro_run(
            self.project, "--pipelines", "satds", "--params", f"raw_root={self.raw}"
        )
        self.out = self.project / "data" / "05_model_input" / "satds"
        self.reports = self.project / "data" / "08_reporting" / "satds"

    def lines(self, name: str) -> list[dict]:
        return [json.loads(line) for line in (self.out / name).read_text().splitlines()]

    def digests(self) -> dict[str, str]:
        return output_digests(self.project, self.out, self.reports)


@pytest.fixture(scope="module")
def satds(tmp_path_factory) -> SatdsBuild:
    return SatdsBuild(tmp_path_factory.mktemp("satds"))


def test_every_dataset_present_gets_its_jsonl_and_split(satds: SatdsBuild) -> None:
    names = {p.stem for p in (satds.out / "jsonl").glob("*.jsonl")}
    assert names == {
        "MSD_Spleen",
        "MSD_Prostate",
        "TotalSegmentator_v2",
        "TotalSegmentator_Organs",
        "TotalSegmentator_Vertebrae",
        "TotalSegmentator_Cardiac",
        "TotalSegmentator_Muscles",
        "TotalSegmentator_Ribs",
        "Dataset201_BrainTissue",
        "AbdomenCT1K",
        "PROMISE12",
    }
    assert {p.stem for p in (satds.out / "split_json").glob("*.json")} == names


def test_lines_point_at_arrays_as_convert_to_npy_lays_them_out(satds: SatdsBuild) -> None:
    for line in satds.lines("train.jsonl") + satds.lines("test.jsonl"):
        assert (satds.raw / line["image"]).exists() and (satds.raw / line["mask"]).exists()
        image = np.load(satds.out / line["renorm_image"])
        assert image.dtype == np.float32 and list(image.shape) == line["chwd"]
        assert line["modality"] in {"CT", "MRI", "PET"}
        assert np.isfinite(image).all()
        for label, box in zip(line["label"], line["renorm_y1x1z1_y2x2z2"]):
            file = satds.out / line["renorm_segmentation_dir"] / f"{label}.npy"
            if box is False:
                assert not file.exists()
                continue
            mask = np.load(file)
            assert mask.dtype == bool and mask.any()
            assert list(mask.shape) == [b - a for a, b in zip(box[:3], box[3:])]


def test_labels_are_merged_as_the_vocabulary_says(satds: SatdsBuild) -> None:
    organs = satds.lines("jsonl/TotalSegmentator_Organs.jsonl")[0]
    assert organs["label"][-4:] == ["adrenal gland", "kidney", "lung lower lobe", "lung upper lobe"]
    prostate = satds.lines("jsonl/MSD_Prostate.jsonl")
    assert {line["channel"] for line in prostate} == {"T2", "ADC"}
    assert "prostate" in prostate[0]["label"]


def test_no_patient_in_two_splits_across_datasets(satds: SatdsBuild) -> None:
    split_of: dict[str, str] = {}
    for line in satds.lines("train.jsonl") + satds.lines("test.jsonl"):
        assert split_of.setdefault(line["patient_id"], line["split"]) == line["split"]
    for path in (satds.out / "split_json").glob("*.json"):
        split = json.loads(path.read_text())
        assert split["val"] == [] and not set(split["train"]) & set(split["test"])
    # TotalSegmentator's official test case stays in test in all six of its datasets
    ts = [line for line in satds.lines("test.jsonl") if line["dataset"].startswith("Total")]
    assert {line["patient_id"] for line in ts} >= {"totalsegmentator:s0003"}


def test_conservation_and_rejects_match_the_sample_data(satds: SatdsBuild) -> None:
    stats = json.loads((satds.reports / "statistics.json").read_text())
    assert all(s["conserved"] for s in stats["sources"].values()), stats
    spleen = stats["sources"]["msd_spleen"]
    expected = satds.expected["Task09_Spleen"]
    assert spleen["raw_records"] == expected["records"]
    assert spleen["rejected_by_reason"] == expected["rejects"]
    organs = stats["sources"]["totalsegmentator_organs"]["rejected_by_reason"]
    assert organs == satds.expected["Totalsegmentator_dataset_v201"]["rejects"]


def test_overlays_and_data_card(satds: SatdsBuild) -> None:
    pngs = sorted(satds.reports.glob("*/*.png"))
    assert {p.parent.name for p in pngs} >= {"MSD_Spleen", "PROMISE12"}
    card = (satds.reports / "datacard.md").read_text()
    assert "adrenal gland" in card and "Medical Segmentation Decathlon" in card


def test_a_rerun_is_byte_identical(satds: SatdsBuild, tmp_path: Path) -> None:
    before = satds.digests()
    kedro_run(satds.project, "--pipelines", "satds", "--params", f"raw_root={satds.raw}")
    assert satds.digests() == before


def test_one_ct_read_by_six_datasets_is_stored_once(satds: SatdsBuild) -> None:
    lines = [
        line
        for line in satds.lines("train.jsonl") + satds.lines("test.jsonl")
        if line["image"].endswith("s0001/ct.nii.gz")
    ]
    assert len(lines) == 6
    inodes = {(satds.out / line["renorm_image"]).stat().st_ino for line in lines}
    assert len(inodes) == 1  # hard links to one file
    assert len({json.dumps(line["affine"]) for line in lines}) == 1
