"""Path safety at ingest: lexical escapes, and files or folders reached through a symbolic
link leading outside the source folder, each an `outside_raw_root` reject."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from unimed_kedro.sources.base import Rejects
from unimed_kedro.sources.paths import SourceFolder, index_files, resolve_inside


def test_resolve_inside_rejects_escapes(tmp_path: Path):
    assert resolve_inside(tmp_path, "a/b.jpg") == str(tmp_path / "a" / "b.jpg")
    assert resolve_inside(tmp_path, "../../etc/passwd") is None
    assert resolve_inside(tmp_path, "/etc/passwd") is None
    assert resolve_inside(tmp_path, "a/../../x.jpg") is None
    assert resolve_inside(tmp_path, "..") is None


@pytest.fixture
def raw(tmp_path) -> Path:
    """raw/src/{a/x.jpg, a/inner.jpg -> x.jpg, a/passwd.jpg -> /outside/passwd,
    a/sibling.jpg -> raw/sibling/y.jpg, linked/ -> /outside/, inside/ -> a/}."""
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0\n")
    (outside / "z.jpg").write_bytes(b"z")
    sibling = tmp_path / "raw" / "sibling"
    sibling.mkdir(parents=True)
    (sibling / "y.jpg").write_bytes(b"y")
    root = tmp_path / "raw" / "src"
    (root / "a").mkdir(parents=True)
    (root / "a" / "x.jpg").write_bytes(b"x")
    (root / "a" / "inner.jpg").symlink_to("x.jpg")
    (root / "a" / "passwd.jpg").symlink_to(outside / "passwd")
    (root / "a" / "sibling.jpg").symlink_to(sibling / "y.jpg")
    (root / "linked").symlink_to(outside)
    (root / "inside").symlink_to(root / "a")
    return root


def _folder(root: Path, **kwargs) -> SourceFolder:
    return SourceFolder(root, Rejects("src"), **kwargs)


def _inside(folder: SourceFolder, rel: str) -> str | None:
    return folder.inside(rel, file="index.csv", row=7, sample_id="src-1")


@pytest.mark.parametrize("rel", ["a/x.jpg", "a/inner.jpg", "inside/x.jpg", "a/missing.jpg"])
def test_paths_that_stay_inside_pass(raw, rel):
    folder = _folder(raw)
    assert _inside(folder, rel) == str(raw / rel)
    assert folder.rejects.rows == []


@pytest.mark.parametrize(
    "rel", ["a/passwd.jpg", "a/sibling.jpg", "linked/z.jpg", "linked/missing.jpg"]
)
def test_links_leading_outside_are_rejected(raw, rel):
    folder = _folder(raw)
    assert _inside(folder, rel) is None
    assert folder.rejects.rows == [
        {
            "source": "src",
            "sample_id": "src-1",
            "file": "index.csv",
            "row": 7,
            "stage": "ingest",
            "reason": "outside_raw_root",
            "detail": f"path {rel!r} leads outside src/ through a symbolic link",
        }
    ]


def test_links_are_followed_when_allowed(raw):
    folder = _folder(raw, allow_symlinks=True)
    for rel in ("a/passwd.jpg", "a/sibling.jpg", "linked/z.jpg"):
        assert _inside(folder, rel) == str(raw / rel)
    assert _inside(folder, "../sibling/y.jpg") is None  # written paths stay lexical
    assert [r["reason"] for r in folder.rejects.rows] == ["outside_raw_root"]


def test_a_linked_source_folder_is_its_own_root(raw, tmp_path):
    """raw_root/src may itself be a link (a dataset kept on another disk)."""
    link = tmp_path / "raw" / "elsewhere"
    link.symlink_to(raw)
    folder = _folder(link)
    assert _inside(folder, "a/x.jpg") == str(link / "a" / "x.jpg")
    assert _inside(folder, "a/passwd.jpg") is None


def test_index_files_leaves_out_links_leading_outside(raw):
    folders = [raw / "a", raw / "linked"]
    index = index_files(raw, folders, ".jpg")
    assert index == {"x.jpg": "a/x.jpg", "inner.jpg": "a/inner.jpg"}
    escaped: dict[str, str] = {}
    index_files(raw, folders, ".jpg", escaped=escaped)
    assert escaped == {"passwd.jpg": "a/passwd.jpg", "sibling.jpg": "a/sibling.jpg",
                       "z.jpg": "linked/z.jpg"}  # fmt: skip
    allowed = index_files(raw, folders, ".jpg", allow_symlinks=True)
    assert set(allowed) == {"x.jpg", "inner.jpg", "passwd.jpg", "sibling.jpg", "z.jpg"}


def test_a_record_naming_an_escaped_index_file_is_rejected(raw):
    """Readers whose metadata names files only by name (found through `index_files`)."""
    folder = _folder(raw)
    index = folder.index_files([raw / "a", raw / "linked"], ".jpg")
    assert "z.jpg" not in index and _inside(folder, "x.jpg") is not None
    assert _inside(folder, "z.jpg") is None
    assert folder.rejects.rows[0]["reason"] == "outside_raw_root"
    assert folder.rejects.rows[0]["detail"] == (
        "image 'linked/z.jpg' is a symbolic link (or in a linked folder) leading outside src/"
    )


def test_link_check_costs_little_on_20k_records(tmp_path):
    """One folder per study, as CheXpert and MIMIC lay them out: 20,000 records are
    checked (inside + exists) in well under half a second of this process's time."""
    root = tmp_path / "src"
    rels = []
    for patient in range(2000):
        for study in range(5):
            folder = root / f"p{patient // 100:02d}" / f"p{patient:05d}" / f"s{study}"
            folder.mkdir(parents=True)
            for view in range(2):
                (folder / f"view{view}.jpg").touch()
                rels.append(f"{folder.relative_to(root)}/view{view}.jpg")
    folder = _folder(root)
    where = {"file": "index.csv", "row": 1, "sample_id": "src-1"}
    start = time.process_time()
    kept = [p for p in (folder.inside(r, **where) for r in rels) if folder.exists(p, **where)]
    elapsed = time.process_time() - start
    assert len(kept) == 20_000 and not folder.rejects.rows
    assert elapsed < 0.5, f"{elapsed:.2f} s of CPU for 20,000 records"


def test_sample_data_with_links_is_rejected_not_read(tmp_path):
    """The sample CheXpert and MIMIC folders, one image swapped for a link to a file
    outside and one study folder swapped for a link to another source's folder."""
    from unimed_kedro.sampledata import generate_cxr
    from unimed_kedro.sources.registry import entry

    raw = tmp_path / "raw"
    generate_cxr(raw, seed=0)
    (tmp_path / "passwd").write_text("root:x:0:0\n")
    vocabulary = _vocabulary()
    before = {s: _read(raw, s, vocabulary) for s in ("chexpert", "mimic")}
    broken = {}
    for source, manifest in before.items():
        folder = raw / entry(source).folder
        first, second = manifest["raw_relpath"].iloc[0], manifest["raw_relpath"].iloc[-1]
        (folder / first).unlink()
        (folder / first).symlink_to(tmp_path / "passwd")
        study = (folder / second).parent
        os.rename(study, tmp_path / f"{source}-moved")
        study.symlink_to(tmp_path / f"{source}-moved")
        moved = set(manifest.loc[manifest["raw_relpath"].str.startswith(
            str(study.relative_to(folder)) + "/"), "sample_id"])  # fmt: skip
        broken[source] = {manifest["sample_id"].iloc[0]} | moved
    for source, manifest in before.items():
        after, rejects = _read(raw, source, vocabulary, with_rejects=True)
        outside = rejects[rejects["reason"] == "outside_raw_root"]
        assert broken[source] <= set(outside["sample_id"]), source
        assert set(after["sample_id"]) == set(manifest["sample_id"]) - broken[source]


def _vocabulary() -> dict:
    from tests.conftest import load_conf

    return load_conf("cxr/parameters.yml")["cxr"]["vocabulary"]


def _read(raw: Path, source: str, vocabulary: dict, with_rejects: bool = False):
    from unimed_kedro.sources.registry import entry

    tables = entry(source).open(raw / entry(source).folder, vocabulary).read()
    return (tables.manifest, tables.rejects) if with_rejects else tables.manifest
