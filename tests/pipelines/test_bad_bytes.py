"""Issue 15 on the real `kedro run`: the sample data broken the ways raw downloads break.

Raw ids with dots, slashes and spaces, and two raw ids folding to one sample id; bad bytes
in every kind of input (a Latin-1 byte, a NUL, an oversized field in the index CSVs, a
report with bytes that are not UTF-8 and control characters, XML with an entity bomb);
and a truncated `.csv.gz`. Each test asserts the exit code, the rejects, and that nothing
good was lost: every sample of the clean build is still exported, next to the new good
ones, and every text output is valid UTF-8 without control characters.
"""

from __future__ import annotations

import gzip
import json
import tarfile
import unicodedata
from pathlib import Path

import pandas as pd
import pytest

from tests.conftest import encode, radiograph
from tests.pipelines.conftest import Build, project_copy, run_kedro
from tests.sources.cxr.test_openi import _xml as openi_xml
from unimed_kedro.sampledata import generate_cxr
from unimed_kedro.sources.base import ID_COLLISION, UNDECODABLE_TEXT

NIH_ENTRY = "chest_xray8/Data_Entry_2017_v2020.csv"
MIMIC_TABLES = "mimic-cxr-jpg/2.0.0"
MIMIC_META = f"{MIMIC_TABLES}/mimic-cxr-2.0.0-metadata.csv.gz"
LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE eCitation [<!ENTITY a "lol">'
    + "".join(f'<!ENTITY {chr(98 + k)} "{("&" + chr(97 + k) + ";") * 10}">' for k in range(8))
    + "]><eCitation>&i;</eCitation>"
)


def _kedro_run(root: Path, raw: Path) -> Build:
    """`kedro run` of the cxr collection, which may fail (`returncode`)."""
    project = project_copy(root / "project")
    result = run_kedro(project, "run", "--pipelines", "cxr", "--params", f"raw_root={raw}")
    return Build(project, raw, {}, result.stdout + result.stderr, result.returncode)


def _append(path: Path, data: bytes) -> None:
    with open(path, "ab") as handle:
        handle.write(data)


def _append_gz(path: Path, rows: list[str]) -> None:
    text = gzip.decompress(path.read_bytes()) + "".join(r + "\n" for r in rows).encode()
    path.write_bytes(gzip.compress(text, mtime=0))


def _image(path: Path, seed: int, fmt: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(encode(radiograph(width=600, height=720, seed=seed), fmt))


def _nih_row(name: str, patient: int) -> bytes:
    return f"{name},Mass,0,{patient},58,M,PA,2682,2749,0.143,0.143\n".encode()


def _break_ids(raw: Path) -> dict[str, set[str]]:
    """Raw ids with a dot, a slash, a space and a collision; the new good sample ids."""
    nih = raw / "chest_xray8"
    names = ["00000090_000.v2.png", "00000091 000.png", "00000092_000.png", "00000092.000.png"]
    for k, name in enumerate(names):
        _image(nih / "images_001" / "images" / name, 90 + k, "PNG")
        _append(nih / "Data_Entry_2017_v2020.csv", _nih_row(name, 90 + k))
    meta = raw / MIMIC_META
    subject, study = gzip.decompress(meta.read_bytes()).decode().splitlines()[1].split(",")[1:3]
    folder = raw / MIMIC_TABLES / "files" / f"p{subject[:2]}" / f"p{subject}" / f"s{study}"
    for k, dicom in enumerate(["aa11.bb22", "sub/cc33"]):
        _image(folder / f"{dicom}.jpg", 95 + k, "JPEG")
    _append_gz(
        meta,
        [f"{d},{subject},{study},CHEST,PA,720,600,1,1,x,y,z" for d in ("aa11.bb22", "sub/cc33")],
    )
    openi = raw / "openi"
    (openi / "ecgen-radiology" / "31.xml").write_text(
        openi_xml("CXR31", ["CXR31.a"], findings="The lungs are clear.")
    )
    _image(openi / "NLMCXR_png" / "CXR31.a.png", 97, "PNG")
    return {
        "nih": {"nih-00000090_000_v2", "nih-00000091_000", "nih-00000092_000"},
        "mimic": {"mimic-aa11_bb22", "mimic-sub_cc33"},
        "openi": {"openi-cxr31_a"},
    }


def _break_bytes(raw: Path) -> dict[str, list[str]]:
    """Bad bytes in the index CSVs, a report and the XML; the rejects they must give."""
    nih = raw / NIH_ENTRY
    _append(nih, _nih_row("00000093_000.png", 93).replace(b",M,", b",\xe9,"))
    _append(nih, _nih_row("00000094_000.png", 94).replace(b"Mass", b"Ma\x00ss"))
    _append(nih, _nih_row("00000095_000.png", 95).replace(b"2682", b"9" * 140_000))
    _append(raw / "CheXpert-v1.0-small" / "train.csv", b"caf\xe9,\xff\xfe\n")
    meta = raw / MIMIC_META
    first = gzip.decompress(meta.read_bytes()).decode().splitlines()[1].split(",")
    report = next((raw / MIMIC_TABLES / "files").glob(f"p*/p{first[1]}/s{first[2]}.txt"))
    report.write_bytes(
        report.read_bytes().replace(b"FINDINGS:", b"FINDINGS: Caf\xe9\x00 \x1b[31m\xc2\x9b")
    )
    xml = raw / "openi" / "ecgen-radiology" / "1.xml"
    xml.write_bytes(xml.read_bytes().replace(b"The heart", b"The \xe9 heart\xc2\x85"))
    (raw / "openi" / "ecgen-radiology" / "32.xml").write_text(LAUGHS)
    return {"nih": ["bad_csv_row"] * 3, "chexpert": ["bad_csv_row"], "openi": ["bad_xml"]}


def _exported(run: Build) -> set[str]:
    keys = set()
    for shard in sorted((run.out / "webdataset").glob("*/*.tar")):
        with tarfile.open(shard) as tar:
            keys |= {m.name.rsplit(".", 1)[0] for m in tar.getmembers()}
    return keys


def _text_outputs(run: Build) -> list[tuple[str, str]]:
    """(where, text) of every text an output holds: shard json/txt members, the files
    layout's captions and index, rejects.csv and corrections.csv."""
    texts = []
    for shard in sorted((run.out / "webdataset").glob("*/*.tar")):
        with tarfile.open(shard) as tar:
            for member in tar.getmembers():
                if member.name.endswith((".json", ".txt")):
                    data = tar.extractfile(member).read()  # type: ignore[union-attr]
                    texts.append((f"{shard.name}:{member.name}", data.decode("utf-8")))
    files = run.out / "files"
    for path in sorted((files / "captions").glob("*.txt")) + [
        files / "metadata" / "master_index.csv",
        run.reports / "rejects.csv",
        run.reports / "corrections.csv",
    ]:
        texts.append((path.name, path.read_bytes().decode("utf-8")))
    return texts


def _controls(text: str) -> set[str]:
    """Control characters in `text` other than the line ends and tabs of a file's layout."""
    return {c for c in text if unicodedata.category(c) == "Cc" and c not in "\n\r\t"}


def _check_conservation(run: Build, expected: dict, added: dict, rejects: pd.DataFrame) -> None:
    stats = json.loads((run.reports / "statistics.json").read_text())["sources"]
    for source, ledger in expected.items():
        got = stats[source]
        new_rejects = rejects[rejects["source"].eq(source) & rejects["new"]]
        assert got["raw_records"] == ledger["records"] + added.get(source, 0), source
        assert got["exported"] + got["rejected"] == got["raw_records"] and got["conserved"]
        by_reason = dict(ledger["rejects"])
        for reason in new_rejects["reason"]:
            by_reason[reason] = by_reason.get(reason, 0) + 1
        assert got["rejected_by_reason"] == dict(sorted(by_reason.items())), source


@pytest.fixture(scope="module")
def broken(tmp_path_factory) -> tuple[Build, dict, dict[str, set[str]], dict[str, list[str]]]:
    root = tmp_path_factory.mktemp("cxr-broken")
    raw = root / "raw"
    expected = generate_cxr(raw, seed=0)
    new_ids = _break_ids(raw)
    new_rejects = _break_bytes(raw)
    return _kedro_run(root, raw), expected, new_ids, new_rejects


def _new_rejects(run: Build, clean: Path) -> pd.DataFrame:
    rejects = pd.read_csv(run.reports / "rejects.csv")
    before = pd.read_csv(clean / "rejects.csv")
    seen = set(map(tuple, before.astype(str).to_numpy().tolist()))
    return rejects.assign(new=[tuple(r) not in seen for r in rejects.astype(str).to_numpy()])


def test_every_id_obeys_the_rule_and_nothing_good_is_lost(broken, cxr_build):
    run, expected, new_ids, new_rejects = broken
    assert run.returncode == 0, run.log[-3000:]
    exported = _exported(run)
    assert all(k.replace("-", "").replace("_", "").isalnum() and k == k.lower() for k in exported)
    clean = _exported(cxr_build)
    assert clean <= exported, sorted(clean - exported)[:5]
    assert exported - clean == set().union(*new_ids.values())
    rejects = _new_rejects(run, cxr_build.reports)
    collision = rejects[rejects["reason"].eq(ID_COLLISION)]
    assert collision[["source", "sample_id", "file"]].values.tolist() == [
        ["nih", "nih-00000092_000", "Data_Entry_2017_v2020.csv"]
    ]
    detail = collision.iloc[0].detail
    assert "'00000092.000.png'" in detail and "'00000092_000.png'" in detail
    added = {s: len(ids) for s, ids in new_ids.items()}
    added["nih"] += 1 + len(new_rejects["nih"])  # the collision and the bad rows
    added["chexpert"] = len(new_rejects["chexpert"])
    added["openi"] += len(new_rejects["openi"])
    _check_conservation(run, expected, added, rejects)


def test_bad_bytes_are_bad_rows_and_every_text_output_is_clean(broken, cxr_build):
    run, _, _, new_rejects = broken
    assert run.returncode == 0, run.log[-3000:]
    rejects = _new_rejects(run, cxr_build.reports)
    got = rejects[rejects["new"] & ~rejects["reason"].eq(ID_COLLISION)]
    want = sorted((s, r) for s, reasons in new_rejects.items() for r in reasons)
    assert sorted(zip(got["source"], got["reason"])) == want
    bad_rows = got[got["reason"].eq("bad_csv_row")]
    assert bad_rows["row"].notna().all() and bad_rows["file"].notna().all()
    nih = bad_rows[bad_rows["source"].eq("nih")]["detail"].tolist()
    assert any("bytes that are not UTF-8" in d for d in nih)
    assert any("NUL byte" in d for d in nih)
    assert any("field larger than field limit" in d for d in nih)
    assert "entities are not allowed" in got[got["reason"].eq("bad_xml")].iloc[0].detail
    corrections = pd.read_csv(run.reports / "corrections.csv")
    undecodable = corrections[corrections["reason"].eq(UNDECODABLE_TEXT)]
    assert set(undecodable["source"]) == {"mimic", "openi"}
    for where, text in _text_outputs(run):
        assert not _controls(text), (where, _controls(text))
    captions = "".join(t for w, t in _text_outputs(run) if w.endswith(".txt"))
    assert "Caf\ufffd" in captions and "The \ufffd heart" in captions


def test_a_truncated_gz_stops_the_run_naming_file_and_line(tmp_path):
    raw = tmp_path / "raw"
    generate_cxr(raw, seed=0)
    meta = raw / MIMIC_META
    meta.write_bytes(meta.read_bytes()[:-40])
    run = _kedro_run(tmp_path, raw)
    assert run.returncode != 0
    assert "mimic-cxr-2.0.0-metadata.csv.gz, line " in run.log
    assert "cannot be read past this line" in run.log and "truncated or corrupt" in run.log
    assert "LayoutError" in run.log
