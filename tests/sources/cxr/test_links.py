"""NIH and OpenI name images by file name only, found by indexing their image folders: an
image reached through a symbolic link leading outside the source folder (a file or a whole
`images_0NN/` folder) is an `outside_raw_root` reject, as in the readers that read paths,
not a `missing_file`; with `allow_symlinks` (DVC's `cache.type: symlink`) it is kept."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.sources.cxr.test_nih import V2020
from tests.sources.cxr.test_openi import _xml
from tests.sources.helpers import write_png
from unimed_kedro.sources.cxr.nih import NIH
from unimed_kedro.sources.cxr.openi import OpenI
from unimed_kedro.sources.registry import entry

NIH_ROW = "{},Mass,0,{},58,M,PA,2682,2749,0.143,0.143"


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """Files outside raw data: what a hostile link, or DVC's symlink cache, points at."""
    folder = tmp_path / "elsewhere"
    write_png(folder / "secret.png", seed=5)
    write_png(folder / "batch" / "00000003_000.png", seed=6)
    return folder


@pytest.fixture
def nih_root(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "raw" / "chest_xray8"
    write_png(root / "images" / "00000001_000.png")
    (root / "images" / "00000002_000.png").symlink_to(outside / "secret.png")
    (root / "images_001").mkdir()
    (root / "images_001" / "images").symlink_to(outside / "batch", target_is_directory=True)
    names = ["00000001_000.png", "00000002_000.png", "00000003_000.png"]
    rows = [V2020] + [NIH_ROW.format(name, k) for k, name in enumerate(names, 1)]
    (root / "Data_Entry_2017_v2020.csv").write_text("\n".join(rows) + "\n")
    return root


@pytest.fixture
def openi_root(tmp_path: Path, outside: Path) -> Path:
    root = tmp_path / "raw" / "openi"
    (root / "ecgen-radiology").mkdir(parents=True)
    write_png(root / "NLMCXR_png" / "CXR1_IM-0001-1001.png")
    (root / "NLMCXR_png" / "CXR1_IM-0001-2001.png").symlink_to(outside / "secret.png")
    images = ["CXR1_IM-0001-1001", "CXR1_IM-0001-2001"]
    (root / "ecgen-radiology" / "1.xml").write_text(_xml("CXR1", images))
    return root


def test_nih_image_linked_outside_is_an_outside_raw_root_reject(nih_root, vocabulary):
    manifest, rejects, _ = NIH(nih_root, vocabulary).read()
    assert manifest["sample_id"].tolist() == ["nih-00000001_000"]
    assert rejects[["reason", "row", "sample_id"]].values.tolist() == [
        ["outside_raw_root", 3, "nih-00000002_000"],
        ["outside_raw_root", 4, "nih-00000003_000"],
    ]
    assert rejects["detail"].tolist() == [
        "image 'images/00000002_000.png' is a symbolic link (or in a linked folder) "
        "leading outside chest_xray8/",
        "image 'images_001/images/00000003_000.png' is a symbolic link (or in a linked "
        "folder) leading outside chest_xray8/",
    ]


def test_openi_image_linked_outside_is_an_outside_raw_root_reject(openi_root, vocabulary):
    manifest, rejects, _ = OpenI(openi_root, vocabulary).read()
    assert manifest["sample_id"].tolist() == ["openi-cxr1_im-0001-1001"]
    assert rejects[["reason", "file", "sample_id"]].values.tolist() == [
        ["outside_raw_root", "ecgen-radiology/1.xml", "openi-cxr1_im-0001-2001"]
    ]
    assert "NLMCXR_png/CXR1_IM-0001-2001.png" in rejects.iloc[0].detail


@pytest.mark.parametrize("source", ["nih", "openi"])
def test_links_are_kept_when_the_run_allows_them(source, nih_root, openi_root, vocabulary):
    root = {"nih": nih_root, "openi": openi_root}[source]
    strict = entry(source).open(root, vocabulary).read()
    allowed = entry(source).open(root, vocabulary, allow_symlinks=True).read()
    assert set(strict.rejects["reason"]) == {"outside_raw_root"}
    assert len(allowed.rejects) == 0
    assert len(allowed.manifest) == len(strict.manifest) + len(strict.rejects)
    for rel in allowed.manifest["raw_relpath"]:
        assert (root / rel).is_file() and not rel.startswith(("/", ".."))
