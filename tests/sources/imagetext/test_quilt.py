import csv
import json
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from tests.sources.helpers import write_jpeg
from unimed_kedro.sampledata.unimed import quilt as sample
from unimed_kedro.sampledata.unimed.quilt import HEADER  # the lookup as Quilt ships it
from unimed_kedro.sources.base import LayoutError
from unimed_kedro.sources.imagetext.quilt import Quilt


def _row(caption: str, image: str, subset: str = "quilt", split: str = "train") -> list[str]:
    noisy = "so here we see\nsome cells"  # quoted multi-line cells: a row spans 3 lines
    return [
        caption,
        image,
        subset,
        split,
        "['Breast']",
        "['ducts']",
        noisy,
        noisy,
        "[]",
        "",
        "",
        "",
    ]


def _lookup(root: Path, rows: list[list[str]]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    with open(root / "quilt_1M_lookup.csv", "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for index, row in enumerate(rows):
            writer.writerow([index, *row] if len(row) == len(HEADER) - 1 else row)


def _read(root: Path):
    return Quilt(root, {}, name="quilt_1m").read()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "Quilt"
    for seed, name in enumerate(("a_image_1.jpg", "b_image_2.jpg", "c_image_3.jpg", "e.jpg")):
        write_jpeg(root / "quilt_1m" / name, seed=seed)
    write_jpeg(root / "images_part_2" / "quilt_1m" / "laion_f.jpg", seed=9)
    _lookup(
        root,
        [
            _row("  First caption of a.  ", "a_image_1.jpg"),  # ends on line 4
            _row("Only caption of b.", "b_image_2.jpg", subset="openpath"),  # 7
            _row("Second caption of a.", "a_image_1.jpg"),  # 10
            _row("First caption of a.", "a_image_1.jpg"),  # 13: a repeat
            _row("Train row of c.", "c_image_3.jpg", subset="pubmed"),  # 16
            _row("Val row of c.", "c_image_3.jpg", subset="pubmed", split="val"),  # 19
            _row("", "e.jpg"),  # 22: every caption of e is empty
            _row("   ", "e.jpg"),  # 25
            _row("No such file.", "d_missing.jpg"),  # 28
            _row("No such file again.", "d_missing.jpg"),  # 31
            _row("Outside.", "../../etc/passwd"),  # 34
            _row("No image path.", ""),  # 37
            _row("Unknown split.", "g.jpg", split="test"),  # 40
            ["99", "too", "few"],  # 41
            _row("From a second zip.", "laion_f.jpg", subset="laion"),  # 44
        ],
    )
    return root


def test_one_record_per_image_with_every_caption(root):
    manifest, _, _ = _read(root)
    by_path = manifest.set_index("raw_relpath")
    assert sorted(by_path.index) == [
        "images_part_2/quilt_1m/laion_f.jpg",
        "quilt_1m/a_image_1.jpg",
        "quilt_1m/b_image_2.jpg",
        "quilt_1m/c_image_3.jpg",
    ]
    assert list(by_path.loc["quilt_1m/a_image_1.jpg"].source_captions) == [
        "First caption of a.",
        "Second caption of a.",
    ]
    assert list(by_path.loc["quilt_1m/c_image_3.jpg"].source_captions) == [
        "Train row of c.",
        "Val row of c.",
    ]
    assert by_path.loc["quilt_1m/a_image_1.jpg"].sample_id == "quilt_1m-a_image_1"
    assert set(manifest["modality"]) == {"pathology"}


def test_subset_is_the_dataset_and_any_val_row_makes_the_image_val(root):
    manifest, _, _ = _read(root)
    by_path = manifest.set_index("raw_relpath")
    assert dict(zip(manifest["raw_relpath"], manifest["dataset"])) == {
        "images_part_2/quilt_1m/laion_f.jpg": "laion",
        "quilt_1m/a_image_1.jpg": "quilt",
        "quilt_1m/b_image_2.jpg": "openpath",
        "quilt_1m/c_image_3.jpg": "pubmed",
    }
    assert by_path.loc["quilt_1m/c_image_3.jpg"].official_split == "val"
    assert by_path.loc["quilt_1m/a_image_1.jpg"].official_split == "train"


def test_rejects(root):
    _, rejects, _ = _read(root)
    got = sorted(zip(rejects["reason"], rejects["row"]))
    assert got == [
        ("bad_csv_row", 37),
        ("bad_csv_row", 40),
        ("bad_csv_row", 41),
        ("missing_file", 28),  # one reject for the image, not one per row
        ("no_caption", 22),
        ("outside_raw_root", 34),
    ]
    assert set(rejects["file"]) == {"quilt_1M_lookup.csv"}


def test_missing_lookup_is_a_layout_error(tmp_path):
    write_jpeg(tmp_path / "Quilt" / "quilt_1m" / "a.jpg")
    with pytest.raises(LayoutError, match="quilt_1M_lookup.csv"):
        _read(tmp_path / "Quilt")


def test_lookup_without_its_columns_is_a_layout_error(tmp_path):
    root = tmp_path / "Quilt"
    root.mkdir()
    (root / "quilt_1M_lookup.csv").write_text("caption,path\nx,y\n")
    with pytest.raises(LayoutError, match=r"quilt_1M_lookup\.csv.*missing columns"):
        _read(root)


# The child reads a lookup whose text columns make it far larger than its records, and
# reports how far its peak RSS rose: reading the table whole would add at least its size.
_CHILD = textwrap.dedent(
    """
    import json, resource, sys
    from pathlib import Path
    from unimed_kedro.sources.imagetext.quilt import Quilt
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    manifest, rejects, _ = Quilt(Path(sys.argv[1]), {}, name="quilt_1m").read()
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    counts = sorted(set(len(c) for c in manifest["source_captions"]))
    print(json.dumps([len(manifest), len(rejects), counts, (peak - base) / 1024]))
    """
)


def test_lookup_is_streamed_row_by_row(tmp_path):
    root = tmp_path / "Quilt"
    images, rows = 20, 3000
    for n in range(images):
        write_jpeg(root / "quilt_1m" / f"v{n}_image.jpg", seed=n)
    bulk = "x" * 20_000  # noisy and corrected text: 40 kB a row, 120 MB in all
    with open(root / "quilt_1M_lookup.csv", "w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for i in range(rows):
            row = _row(f"caption {i}", f"v{i % images}_image.jpg")
            row[6:8] = [bulk, bulk]
            writer.writerow([i, *row])
    size_mb = (root / "quilt_1M_lookup.csv").stat().st_size / 2**20
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(root)], capture_output=True, text=True, check=True
    )
    records, rejected, counts, rise_mb = json.loads(done.stdout)
    assert (records, rejected) == (images, 0)
    assert counts == [rows // images]  # every row's caption reached its image
    assert rise_mb < size_mb / 4, (rise_mb, size_mb)


def test_sample_data_expectations(tmp_path):
    expected = sample.write(tmp_path, np.random.default_rng(7))
    manifest, rejects, _ = _read(tmp_path / "Quilt")
    assert dict(Counter(rejects["reason"])) == expected["rejects"]
    assert len(manifest) + len(rejects) == expected["records"]
    held = int((manifest["official_split"] == "val").sum())
    assert held == expected["held_out"]
    assert len(manifest) - held == expected["exported"]
    assert (tmp_path / "Quilt" / ".unimed-sample").is_file()
