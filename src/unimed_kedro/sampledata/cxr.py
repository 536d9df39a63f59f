"""Deterministic raw chest X-ray sample data in the four official on-disk layouts.

Why this exists: the `cxr` pipeline must read CheXpert-v1.0-small, NIH ChestX-ray14,
MIMIC-CXR-JPG and OpenI exactly as they are distributed, quirks included (bracketed NIH
headers, per-study MIMIC labels in .csv.gz, reports beside study folders, OpenI reports
without images, ...), and it must reject broken inputs with a reason. The real datasets
are large and licensed, so the Quickstart and the tests run on these toy copies instead.

What is copied from the real datasets: headers, folder and file-name schemes, id formats
and value vocabularies only. Every row, id, label, report and caption is synthetic. The
pixels come from the one real chest film on PyPI (pydicom-data `RG1_UNCI.dcm`, NEMA WG04
sample set), or from a synthetic chest-like image when pydicom-data is not installed.

Each layout writer counts what it actually writes (records, expected rejects and
corrections by reason, patients), so `generate_cxr` returns expectations that the tests
compare with the pipeline's manifest, rejects and corrections tables (conservation).
Same seed, same bytes: no timestamps (gzip `mtime=0`), fixed per-sample random streams,
sorted iteration.
"""

from __future__ import annotations

import csv
import functools
import gzip
import io
import textwrap
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

import numpy as np
from PIL import Image, ImageFilter

from unimed_kedro.sampledata.files import write_bytes
from unimed_kedro.sources.registry import entry

MARKER = ".unimed-sample"
# Each source's folder under raw_root, as the registry names it.
SOURCE_DIRS: dict[str, str] = {
    name: entry(name).folder for name in ("chexpert", "nih", "mimic", "openi")
}
REASONS = (
    "missing_file",
    "corrupt_image",
    "too_small",
    "low_contrast",
    "bad_csv_row",
    "outside_raw_root",
    "bad_xml",
    "no_images",
    "duplicate_record",
)
# kept records with a value read as unknown
CORRECTIONS = ("age_out_of_range", "age_placeholder")

# CheXpert's label order; MIMIC's chexpert.csv uses the same names sorted alphabetically.
CHEXPERT_LABELS = (
    "No Finding",
    "Enlarged Cardiomediastinum",
    "Cardiomegaly",
    "Lung Opacity",
    "Lung Lesion",
    "Edema",
    "Consolidation",
    "Pneumonia",
    "Atelectasis",
    "Pneumothorax",
    "Pleural Effusion",
    "Pleural Other",
    "Fracture",
    "Support Devices",
)
CHEXPERT_HEADER = ("Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", *CHEXPERT_LABELS)
NIH_LABELS = (
    "Atelectasis",
    "Cardiomegaly",
    "Effusion",
    "Infiltration",
    "Mass",
    "Nodule",
    "Pneumonia",
    "Pneumothorax",
    "Consolidation",
    "Edema",
    "Emphysema",
    "Fibrosis",
    "Pleural_Thickening",
    "Hernia",
)
# The official header text; the commas inside the brackets make it 11 fields.
NIH_HEADER = (
    "Image Index,Finding Labels,Follow-up #,Patient ID,Patient Age,Patient Sex,"
    "View Position,OriginalImage[Width,Height],OriginalImagePixelSpacing[x,y]"
)
MIMIC_METADATA_HEADER = (
    "dicom_id",
    "subject_id",
    "study_id",
    "PerformedProcedureStepDescription",
    "ViewPosition",
    "Rows",
    "Columns",
    "StudyDate",
    "StudyTime",
    "ProcedureCodeSequence_CodeMeaning",
    "ViewCodeSequence_CodeMeaning",
    "PatientOrientationCodeSequence_CodeMeaning",
)
MIMIC_LABELS = tuple(sorted(CHEXPERT_LABELS))
MIMIC_VERSION = "2.0.0"

# Film sizes (width, height) as distributed: CheXpert-small is ~320 px on the short side,
# NIH 1024x1024, MIMIC-CXR-JPG >= 1024 px (scaled down here), OpenI varies (512 here).
_CHEXPERT_SHORT = 320
_NIH_SIZE = (1024, 1024)
_MIMIC_WIDTH = 1024
_OPENI_SIZE = (512, 620)
_RG1 = "RG1_UNCI.dcm"
_BASE_WIDTH = 1400  # wider than any crop we take, so every sample is a downsample
_TRUNCATE_AT = 24  # a download cut off right after the header: no decoder can read it
_JPEG_QUALITY = 90

# Report phrases per CheXpert label, shared by captions, MIMIC reports and OpenI.
_PHRASES = {
    "No Finding": "The lungs are clear without focal consolidation, pleural effusion or "
    "pneumothorax. The cardiomediastinal silhouette is within normal limits.",
    "Enlarged Cardiomediastinum": "The cardiomediastinal silhouette is widened.",
    "Cardiomegaly": "The heart is moderately enlarged.",
    "Lung Opacity": "There is a new opacity at the right lung base.",
    "Lung Lesion": "A 1.5 cm nodular opacity projects over the right upper lobe.",
    "Edema": "Mild pulmonary vascular congestion with interstitial edema.",
    "Consolidation": "Focal consolidation is seen in the left lower lobe.",
    "Pneumonia": "Patchy opacity in the right lower lobe may reflect pneumonia.",
    "Atelectasis": "Bibasilar opacities most likely reflect atelectasis.",
    "Pneumothorax": "There is a small left apical pneumothorax.",
    "Pleural Effusion": "Small bilateral pleural effusions are present.",
    "Pleural Other": "Mild pleural thickening is noted at the left apex.",
    "Fracture": "An old healed fracture of a left lateral rib is noted.",
    "Support Devices": "A right internal jugular central venous catheter ends in the SVC.",
}


# --------------------------------------------------------------------------- bookkeeping
@dataclass
class _Ledger:
    """What one writer emitted: raw records, the rejects they must cause, the corrections
    kept records must get (never rejects), the patients."""

    records: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    corrections: Counter[str] = field(default_factory=Counter)
    patients: set[str] = field(default_factory=set)

    def add(self, patient: str | None, reject: str | None = None) -> None:
        if reject is not None and reject not in REASONS:
            raise ValueError(f"unknown reason code {reject!r}")
        self.records += 1
        if patient is not None:
            self.patients.add(patient)
        if reject is not None:
            self.rejects[reject] += 1

    def correct(self, reason: str) -> None:
        """A correction of the record just added (it stays a kept record)."""
        if reason not in CORRECTIONS:
            raise ValueError(f"unknown correction code {reason!r}")
        self.corrections[reason] += 1

    def summary(self) -> dict:
        return {
            "records": self.records,
            "rejects": dict(sorted(self.rejects.items())),
            "corrections": dict(sorted(self.corrections.items())),
            "patients": len(self.patients),
        }


def _rng(seed: int, source: str, *keys: int) -> np.random.Generator:
    """An independent stream per (seed, source, keys), so adding a sample to one source
    never changes the bytes of another."""
    return np.random.default_rng([seed, zlib.crc32(source.encode()), *keys])


# --------------------------------------------------------------------------- pixels
def _load_rg1() -> np.ndarray | None:
    """The real PA chest film from pydicom-data, or None when it is not installed.
    `download=False`: pydicom would otherwise fetch it from GitHub."""
    try:
        import pydicom
        from pydicom.data import get_testdata_file
    except ImportError:
        return None
    path = get_testdata_file(_RG1, download=False)
    if path is None:
        return None
    ds = pydicom.dcmread(path)
    pixels = _window(ds.pixel_array.astype(np.float32))
    # MONOCHROME1 stores air as bright; flip it so lungs are dark as on any CXR viewer.
    return 255 - pixels if ds.PhotometricInterpretation == "MONOCHROME1" else pixels


def _window(pixels: np.ndarray) -> np.ndarray:
    """Percentile window to 8 bit; the 15-bit range is mostly unused."""
    low, high = np.percentile(pixels[::4, ::4], (0.5, 99.5))
    scaled = np.clip((pixels - low) / max(high - low, 1.0), 0.0, 1.0)
    return (scaled * 255.0 + 0.5).astype(np.uint8)


def _synthetic_chest(height: int = 1488, width: int = 1400) -> np.ndarray:
    """A chest-like film without pydicom-data: dark air, soft-tissue trunk, dark lung
    fields crossed by ribs, a bright mediastinum and spine. Deterministic, no RNG."""
    y, x = np.mgrid[-1 : 1 : complex(0, height), -1 : 1 : complex(0, width)].astype(np.float32)
    img = np.full((height, width), 0.06, np.float32)
    img[(x / 0.88) ** 2 + (y / 1.05) ** 2 < 1] = 0.55
    lungs = np.zeros_like(img, dtype=bool)
    for cx in (-0.4, 0.4):
        lungs |= ((x - cx) / 0.3) ** 2 + ((y + 0.05) / 0.62) ** 2 < 1
    img[lungs] = 0.22 + 0.1 * (np.sin(y[lungs] * 38 + 5 * x[lungs] ** 2) > 0.55)
    img[(x - 0.08) ** 2 / 0.06 + (y - 0.3) ** 2 / 0.09 < 1] = 0.7  # heart
    img[np.abs(x) < 0.07] = np.maximum(img[np.abs(x) < 0.07], 0.78)  # spine
    film = Image.fromarray((img * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(6))
    return np.asarray(film)


@functools.lru_cache(maxsize=1)
def _base_image() -> Image.Image:
    """Decoded, windowed and downsized once per process (the DICOM is 7 MB)."""
    pixels = _load_rg1()
    img = Image.fromarray(pixels if pixels is not None else _synthetic_chest())
    height = round(img.height * _BASE_WIDTH / img.width)
    return img.resize((_BASE_WIDTH, height), Image.Resampling.BOX)


def _render(
    rng: np.random.Generator, size: tuple[int, int], *, lateral: bool = False
) -> np.ndarray:
    """One distinct 8-bit film of `size` (width, height): jittered crop, gamma,
    brightness, light noise and sometimes a horizontal flip. A lateral is a narrower
    crop of the same film (it is sample data)."""
    base = _base_image()
    width, height = size
    scale = rng.uniform(0.86, 0.97)
    max_w = base.width * scale * (0.62 if lateral else 1.0)
    crop_h = min(base.height * scale, max_w * height / width)
    crop_w = crop_h * width / height
    x0 = float(
        np.clip(
            (base.width - crop_w) / 2 + rng.normal(0, 0.03 * base.width), 0, base.width - crop_w
        )
    )
    y0 = float(
        np.clip(
            (base.height - crop_h) / 2 + rng.normal(0, 0.03 * base.height), 0, base.height - crop_h
        )
    )
    img = base.resize(
        size, Image.Resampling.BILINEAR, box=(x0, y0, x0 + crop_w, y0 + crop_h), reducing_gap=2.0
    )
    # Gamma and brightness as a 256-entry table: much cheaper than per-pixel powers.
    levels = np.linspace(0.0, 1.0, 256, dtype=np.float32) ** rng.uniform(0.85, 1.18)
    lut = (levels * rng.uniform(0.92, 1.05) + rng.uniform(-0.03, 0.03)) * 255.0
    pixels = lut.astype(np.float32)[np.asarray(img)]
    pixels += rng.standard_normal(pixels.shape, dtype=np.float32) * rng.uniform(1.5, 4.0)
    if rng.random() < 0.2:
        pixels = pixels[:, ::-1]
    return (np.clip(pixels, 0.0, 255.0) + 0.5).astype(np.uint8)


def _flat(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    """A nearly uniform gray film (std about 0.5): a blank or failed exposure."""
    return rng.integers(127, 129, size=(size[1], size[0]), dtype=np.uint8)


def _encode(pixels: np.ndarray, fmt: str, *, mode: str = "L", dpi: int | None = None) -> bytes:
    """Encode a uint8 film. mode "RGB" / "P" / "I;16" reproduce the odd files found
    among real downloads; PNGs use compress_level=1 to keep generation fast."""
    img = Image.fromarray(pixels)
    if mode == "RGB":
        img = img.convert("RGB")
    elif mode == "P":  # gray palette: same pixels, palette-mode file
        img = Image.frombytes("P", img.size, pixels.tobytes())
        img.putpalette(bytes(v for i in range(256) for v in (i, i, i)))
    elif mode == "I;16":  # 16-bit film spanning 300..3800, so it needs windowing
        img = Image.fromarray((300 + pixels.astype(np.uint32) * 3500 // 255).astype(np.uint16))
    buf = io.BytesIO()
    if fmt == "JPEG":
        extra = {"dpi": (dpi, dpi)} if dpi else {}
        img.save(buf, format="JPEG", quality=_JPEG_QUALITY, **extra)
    else:
        img.save(buf, format="PNG", compress_level=1)
    return buf.getvalue()


def _write_film(
    path: Path,
    rng: np.random.Generator,
    size: tuple[int, int],
    *,
    lateral: bool = False,
    mode: str = "L",
    reject: str | None = None,
) -> None:
    """Write one film, or the defect named by `reject` (a missing file writes nothing)."""
    fmt = "JPEG" if path.suffix == ".jpg" else "PNG"
    if reject == "missing_file":
        return
    if reject == "too_small":
        size = (96, 96)
    pixels = _flat(rng, size) if reject == "low_contrast" else _render(rng, size, lateral=lateral)
    if reject == "corrupt_image":
        # Cut off after the header. A per-file JFIF density (bytes 14-17) keeps two
        # corrupt JPEGs from sharing bytes, so a raw-hash dedup never pairs them.
        dpi = int(rng.integers(72, 600))
        write_bytes(path, _encode(pixels, fmt, mode=mode, dpi=dpi)[:_TRUNCATE_AT])
    else:
        write_bytes(path, _encode(pixels, fmt, mode=mode))


def _write_csv(
    path: Path,
    header: Sequence[str] | None,
    rows: Iterable[Sequence[str]],
    *,
    raw_header: str | None = None,
    gz: bool = False,
) -> None:
    """CSV with '\\n' line ends; gzip with mtime=0 so the bytes never depend on the clock."""
    buf = io.StringIO()
    if raw_header is not None:
        buf.write(raw_header + "\n")
    writer = csv.writer(buf, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
    writer.writerows(rows)
    data = buf.getvalue().encode("utf-8")
    path.parent.mkdir(parents=True, exist_ok=True)
    if gz:
        with (
            open(path, "wb") as raw,
            gzip.GzipFile(filename=path.name, mode="wb", fileobj=raw, mtime=0) as out,
        ):
            out.write(data)
    else:
        path.write_bytes(data)


def _labels(rng: np.random.Generator, *, binary: bool = False) -> dict[str, str]:
    """CheXpert-labeler style values: "No Finding" is 1.0 or blank; others 1.0 / 0.0 /
    -1.0 (uncertain) / blank. `binary` gives valid.csv's 0.0/1.0-only labels."""
    values = dict.fromkeys(CHEXPERT_LABELS, "")
    others = CHEXPERT_LABELS[1:]
    if rng.random() < 0.3:
        values["No Finding"] = "1.0"
    else:
        picked = rng.choice(others, size=int(rng.integers(1, 4)), replace=False)
        for k, name in enumerate(picked):  # the first is always a definite positive
            values[str(name)] = "1.0" if k == 0 or rng.random() < 0.7 else "-1.0"
        for name in rng.choice(others, size=2, replace=False):
            values[str(name)] = values[str(name)] or "0.0"
    if binary:
        values = {k: "1.0" if v in ("1.0", "-1.0") else "0.0" for k, v in values.items()}
    return values


def _positives(labels: dict[str, str]) -> list[str]:
    return [name for name, value in labels.items() if value == "1.0"] or ["No Finding"]


# --------------------------------------------------------------------------- CheXpert
# (patient, study, view file, AP/PA, sex, age). Quirks of the real train.csv: LL and RL
# in AP/PA of frontal rows (frontal films: FRONTAL), a view3, one Sex "Unknown", Age 0
# (its placeholder for an unrecorded age: an `age_placeholder` correction on each kept
# row, 3 rows as in the real file, one of them a bad row), lateral rows with blank AP/PA.
_CHEXPERT_TRAIN = (
    (1, 1, "view1_frontal", "AP", "Female", 68),
    (2, 1, "view1_frontal", "AP", "Female", 87),
    (2, 2, "view1_frontal", "AP", "Female", 87),
    (2, 2, "view2_lateral", "", "Female", 87),
    (3, 1, "view1_frontal", "PA", "Male", 41),
    (3, 1, "view2_lateral", "", "Male", 41),
    (3, 2, "view1_frontal", "PA", "Male", 42),
    (3, 3, "view1_frontal", "LL", "Male", 42),
    (4, 1, "view1_frontal", "PA", "Male", 55),
    (4, 1, "view2_lateral", "", "Male", 55),
    (4, 1, "view3_frontal", "AP", "Male", 55),
    (5, 1, "view1_frontal", "AP", "Unknown", 73),
    (5, 2, "view1_frontal", "RL", "Unknown", 73),
    (6, 1, "view1_frontal", "AP", "Female", 0),
    (6, 1, "view2_lateral", "", "Female", 0),
    (7, 1, "view1_frontal", "PA", "Male", 33),
    (7, 2, "view1_frontal", "AP", "Male", 34),
    (7, 2, "view2_lateral", "", "Male", 34),
    (8, 1, "view1_frontal", "AP", "Female", 61),
    (8, 2, "view1_frontal", "AP", "Female", 61),
    (8, 3, "view1_frontal", "AP", "Female", 62),
    (8, 3, "view2_lateral", "", "Female", 62),
    (5, 2, "view2_frontal", "LL", "Unknown", 73),
)
# Bad train rows, each on a patient who also has good rows (so the patient count does not
# depend on how a reader treats rejected rows). The duplicate and the path escaping the
# raw root are built in _chexpert_bad_rows.
_CHEXPERT_BAD = (
    (7, 3, "view1_frontal", "AP", "Male", 35, "missing_file"),
    (3, 4, "view1_frontal", "PA", "Male", 43, "corrupt_image"),
    (8, 4, "view1_frontal", "AP", "Female", 63, "too_small"),
    (6, 2, "view1_frontal", "AP", "Female", 0, "few_fields"),
    (4, 2, "view1_frontal", "PA", "Male", 56, "label_2.5"),
)
_CHEXPERT_VALID = (
    (64541, 1, "view1_frontal", "AP", "Male", 73),
    (64542, 1, "view1_frontal", "PA", "Female", 70),
    (64542, 1, "view2_lateral", "", "Female", 70),
    (64543, 1, "view1_frontal", "AP", "Male", 85),
    (64544, 1, "view1_frontal", "PA", "Female", 42),
    (64544, 1, "view2_lateral", "", "Female", 42),
)
_CHEXPERT_RGB = "train/patient00004/study1/view1_frontal.jpg"  # one 3-channel JPEG
_CAPTION_TEMPLATES = (
    "Chest X-ray showing {}.",
    "The radiograph demonstrates {}.",
    "Findings consistent with {} on this frontal chest film.",
)


def _chexpert_film(
    root: Path, rel: str, rng: np.random.Generator, reject: str | None = None
) -> None:
    lateral = "lateral" in rel
    size = (
        (390, _CHEXPERT_SHORT)
        if lateral
        else (_CHEXPERT_SHORT, int(rng.choice([369, 383, 390, 412])))
    )
    mode = "RGB" if rel == _CHEXPERT_RGB else "L"
    _write_film(root / rel, rng, size, lateral=lateral, mode=mode, reject=reject)


def _chexpert_row(rel: str, spec: tuple, labels: dict[str, str]) -> list[str]:
    _, _, view, ap_pa, sex, age = spec[:6]
    side = "Lateral" if "lateral" in view else "Frontal"
    return [f"{SOURCE_DIRS['chexpert']}/{rel}", sex, str(age), side, ap_pa, *labels.values()]


def _chexpert_split(
    root: Path, seed: int, split: str, specs: Sequence[tuple], ledger: _Ledger
) -> list[list[str]]:
    """Good rows of train.csv or valid.csv, their films, and their ledger entries."""
    rows = []
    for index, spec in enumerate(specs):
        patient, study, view = spec[:3]
        rel = f"{split}/patient{patient:05d}/study{study}/{view}.jpg"
        rng = _rng(seed, f"chexpert-{split}", index)
        _chexpert_film(root, rel, rng)
        rows.append(_chexpert_row(rel, spec, _labels(rng, binary=split == "valid")))
        ledger.add(f"patient{patient:05d}")
        if spec[5] == 0:
            ledger.correct("age_placeholder")
    return rows


def _chexpert_bad_rows(
    root: Path, seed: int, good: list[list[str]], ledger: _Ledger
) -> list[list[str]]:
    """Train rows that the reader must reject, one per reason."""
    rows = []
    for index, spec in enumerate(_CHEXPERT_BAD):
        patient, study, view, *_, defect = spec
        rel = f"train/patient{patient:05d}/study{study}/{view}.jpg"
        rng = _rng(seed, "chexpert-bad", index)
        labels = _labels(rng)
        film_reject = defect if defect in REASONS else None
        # CSV defects get a valid film, so the row itself is the only thing wrong.
        _chexpert_film(root, rel, rng, reject=film_reject)
        row = _chexpert_row(rel, spec, labels)
        if defect == "few_fields":
            row = row[:7]
        elif defect == "label_2.5":
            row[CHEXPERT_HEADER.index("Cardiomegaly")] = "2.5"
        rows.append(row)
        ledger.add(f"patient{patient:05d}", film_reject or "bad_csv_row")
    outside = [
        "CheXpert-v1.0-small/../../../etc/passwd",
        "Male",
        "50",
        "Frontal",
        "PA",
        *_labels(_rng(seed, "chexpert-bad", 99)).values(),
    ]
    rows.append(outside)
    ledger.add(None, "outside_raw_root")
    rows.append(list(good[2]))  # an exact repeat of an earlier row: the first one wins
    ledger.add(good[2][0].split("/")[2], "duplicate_record")
    return rows


def _chexpert_captions(rows: list[list[str]]) -> list[list[str]]:
    """UniMed's caption CSV: Python-literal lists of file names, labels and captions."""
    out = []
    for row in rows:
        if not row[0].endswith("study1/view1_frontal.jpg"):
            continue
        labels = _positives(dict(zip(CHEXPERT_LABELS, row[5:], strict=True)))
        findings = (
            "no acute cardiopulmonary abnormality"
            if labels == ["No Finding"]
            else ", ".join(label.lower() for label in labels)
        )
        captions = [t.format(findings) for t in _CAPTION_TEMPLATES]
        out.append([str([row[0]]), str(labels), str(captions)])
    return out


def _write_chexpert(out_root: Path, seed: int) -> dict:
    root = out_root / SOURCE_DIRS["chexpert"]
    ledger = _Ledger()
    train = _chexpert_split(root, seed, "train", _CHEXPERT_TRAIN, ledger)
    valid = _chexpert_split(root, seed, "valid", _CHEXPERT_VALID, ledger)
    bad = _chexpert_bad_rows(root, seed, train, ledger)
    # The real file is sorted by Path; the two appended rows stay at the end.
    rows = sorted(train + bad[:-2], key=lambda row: row[0]) + bad[-2:]
    _write_csv(root / "train.csv", CHEXPERT_HEADER, rows)
    _write_csv(root / "valid.csv", CHEXPERT_HEADER, valid)
    _write_csv(
        root / "chexpert_with_captions_only_frontal_view.csv",
        ("filename", "labels", "captions"),
        _chexpert_captions(train),
    )
    return ledger.summary()


# --------------------------------------------------------------------------- NIH
# (patient id, sex, age at the first film, view position, films). Patients 7 and 8 are
# the test split, like the patient-disjoint official lists.
_NIH_PATIENTS = (
    (1, "M", 57, "PA", 3),
    (2, "F", 44, "PA", 4),
    (3, "M", 81, "AP", 3),
    (4, "F", 29, "PA", 2),
    (5, "M", 63, "AP", 3),
    (6, "F", 70, "PA", 3),
    (7, "M", 38, "PA", 3),
    (8, "F", 52, "AP", 2),
)
_NIH_TEST_PATIENTS = {7, 8}
# Extra follow-ups that must be rejected: (patient, defect); each patient has good films.
_NIH_BAD = ((3, "missing_file"), (5, "corrupt_image"), (6, "low_contrast"), (2, "bad_csv_row"))
_NIH_PALETTE = "00000004_001.png"  # one palette-mode PNG among the good films
# A good film whose age is a typo, as the real Data_Entry_2017 has (148, 413): kept with
# age unknown and an `age_out_of_range` correction.
_NIH_AGE_TYPO = ("00000003_001.png", "413")


def _nih_row(rng: np.random.Generator, patient: tuple, followup: int) -> list[str]:
    pid, sex, age, view, _ = patient
    picked = sorted(rng.choice(NIH_LABELS, size=int(rng.integers(1, 3)), replace=False))
    findings = "No Finding" if rng.random() < 0.4 else "|".join(map(str, picked))
    spacing = str(rng.choice(["0.143", "0.168", "0.139"]))
    return [
        f"{pid:08d}_{followup:03d}.png",
        findings,
        str(followup),
        str(pid),
        str(age + followup // 2),
        sex,
        view,
        str(int(rng.integers(2048, 3057))),
        str(int(rng.integers(2048, 3057))),
        spacing,
        spacing,
    ]


def _nih_film(root: Path, seed: int, name: str, index: int, reject: str | None = None) -> None:
    folder = "images_001" if int(name[:8]) <= 4 else "images_002"
    mode = "P" if name == _NIH_PALETTE else "L"
    _write_film(
        root / folder / "images" / name,
        _rng(seed, "nih", index),
        _NIH_SIZE,
        mode=mode,
        reject=reject,
    )


def _write_nih(out_root: Path, seed: int) -> dict:
    root = out_root / SOURCE_DIRS["nih"]
    ledger = _Ledger()
    bad = dict(_NIH_BAD)
    rows: list[list[str]] = []
    owners: list[int] = []  # patient of each row (a bad row's columns are shifted)
    for patient in _NIH_PATIENTS:
        pid, films = patient[0], patient[4]
        for followup in range(films + (pid in bad)):
            row = _nih_row(_rng(seed, "nih-rows", len(rows)), patient, followup)
            reject = bad[pid] if followup == films else None
            # A CSV defect gets a valid film, so the row itself is the only thing wrong.
            _nih_film(root, seed, row[0], len(rows), None if reject == "bad_csv_row" else reject)
            if reject == "bad_csv_row":
                row.insert(2, "Mass")  # an unquoted extra field: 12 instead of 11
            rows.append(row)
            owners.append(pid)
            ledger.add(str(pid), reject)
            if row[0] == _NIH_AGE_TYPO[0]:
                row[4] = _NIH_AGE_TYPO[1]
                ledger.correct("age_out_of_range")
    # A path in the metadata that escapes the raw root (patient 1 has good films too).
    outside = _nih_row(_rng(seed, "nih-rows", 999), _NIH_PATIENTS[0], 9)
    outside[0] = "../../secret.png"
    rows.append(outside)
    owners.append(_NIH_PATIENTS[0][0])
    ledger.add(outside[3], "outside_raw_root")
    _write_csv(root / "Data_Entry_2017_v2020.csv", None, rows, raw_header=NIH_HEADER)
    # Patient-disjoint like the official lists; every Data_Entry name is in exactly one.
    test = [row[0] for row, pid in zip(rows, owners) if pid in _NIH_TEST_PATIENTS]
    train_val = [row[0] for row, pid in zip(rows, owners) if pid not in _NIH_TEST_PATIENTS]
    (root / "train_val_list.txt").write_text("".join(f"{n}\n" for n in sorted(train_val)))
    (root / "test_list.txt").write_text("".join(f"{n}\n" for n in sorted(test)))
    return ledger.summary()


# --------------------------------------------------------------------------- MIMIC
# One entry per subject: its studies, each a tuple of ViewPosition values ("" = blank).
_MIMIC_PLAN = (
    (("PA", "LATERAL"), ("AP",)),
    (("PA", "LATERAL"), ("PA", "LL"), ("AP",)),
    (("AP",), ("AP", "")),
    (("PA", "LATERAL"),),
    (("PA", "LATERAL"), ("AP", "LATERAL")),
    (("PA", "LATERAL", "LATERAL"),),
    (("PA", "LATERAL"), ("AP",), ("PA", "LATERAL")),
)
_MIMIC_PREFIX = (10, 10, 11, 12, 15, 18, 19)  # first two digits -> the pXX folder
_MIMIC_SPLIT = ("train", "train", "test", "train", "validate", "train", "train")
# Extra films (flat study index -> view, defect), in studies that also have good films.
_MIMIC_BAD = {0: ("AP", "missing_file"), 4: ("LATERAL", "corrupt_image"), 10: ("PA", "too_small")}
# Report quirks by flat study index (the official sectioner meets all of these).
_MIMIC_REPORT_QUIRK = {1: "no_findings", 3: "impresson", 5: "combined", 7: "no_report"}
_MIMIC_NO_LABELS = 9  # a study absent from mimic-cxr-2.0.0-chexpert.csv.gz
_MIMIC_VIEW_MEANING = {
    "PA": "postero-anterior",
    "AP": "antero-posterior",
    "LATERAL": "lateral",
    "LL": "left lateral",
    "": "",
}


@dataclass
class _MimicStudy:
    slot: int  # index of the subject in _MIMIC_PLAN
    subject: int
    study: int
    date: str
    time: str
    views: list[tuple[str, str | None]]  # (ViewPosition, defect)
    labels: dict[str, str]


def _mimic_ids(seed: int) -> list[_MimicStudy]:
    """Random ids in the official formats (study ids are random and carry no order)."""
    rng = _rng(seed, "mimic-ids")
    studies: list[_MimicStudy] = []
    used: set[int] = set()
    for slot, (prefix, plan) in enumerate(zip(_MIMIC_PREFIX, _MIMIC_PLAN, strict=True)):
        subject = _unique(used, rng, prefix * 1_000_000, (prefix + 1) * 1_000_000)
        for views in plan:
            study = _unique(used, rng, 50_000_000, 60_000_000)
            hh, mm, ss, ms = (int(v) for v in rng.integers((0, 0, 0, 0), (24, 60, 60, 1000)))
            date = (
                f"{int(rng.integers(2110, 2200))}{int(rng.integers(1, 13)):02d}"
                f"{int(rng.integers(1, 29)):02d}"
            )
            bad = _MIMIC_BAD.get(len(studies))
            films: list[tuple[str, str | None]] = [(v, None) for v in views]
            films += [bad] if bad else []
            studies.append(
                _MimicStudy(
                    slot,
                    subject,
                    study,
                    date,
                    f"{hh * 10000 + mm * 100 + ss}.{ms:03d}",
                    films,
                    _labels(rng),
                )
            )
    return studies


def _unique(used: set[int], rng: np.random.Generator, low: int, high: int) -> int:
    """Draw from low..high-1 until the value is new (ids must be unique whatever the seed)."""
    value = int(rng.integers(low, high))
    while value in used:
        value = int(rng.integers(low, high))
    used.add(value)
    return value


def _mimic_procedure(st: _MimicStudy) -> str:
    return "CHEST (PA AND LAT)" if any(v == "PA" for v, _ in st.views) else "CHEST (PORTABLE AP)"


def _dicom_id(rng: np.random.Generator) -> str:
    digits = rng.bytes(20).hex()
    return "-".join(digits[i : i + 8] for i in range(0, 40, 8))


def _mimic_report(study: _MimicStudy, quirk: str | None, rng: np.random.Generator) -> str:
    """Free text in the official style: ' FINAL REPORT', ALL-CAPS sections, '___' PHI,
    lines wrapped at 79 characters with a leading space."""
    positives = _positives(study.labels)
    findings = " ".join(_PHRASES[p] for p in positives)
    impression = (
        "No acute cardiopulmonary process."
        if positives == ["No Finding"]
        else f"{', '.join(positives).capitalize()}, new since ___."
    )
    exam = _mimic_procedure(study)
    sections = [
        ("EXAMINATION", exam),
        (
            "INDICATION",
            f"___-year-old {rng.choice(['man', 'woman'])} with "
            f"{rng.choice(['cough', 'dyspnea', 'fever', 'chest pain'])}."
            "  // eval for pneumonia",
        ),
        ("TECHNIQUE", "Chest PA and lateral" if "PA" in exam else "Portable AP"),
        ("COMPARISON", str(rng.choice(["___", "None.", "Chest radiograph ___."]))),
    ]
    if quirk == "combined":
        sections.append(("FINDINGS AND IMPRESSION", f"{findings} {impression}"))
    elif quirk == "no_findings":
        sections.append(("IMPRESSION", impression))
    else:
        sections += [
            ("FINDINGS", findings),
            ("IMPRESSON" if quirk == "impresson" else "IMPRESSION", impression),
        ]
    lines = [" " * 33 + "FINAL REPORT"]
    for name, text in sections:
        if name in ("EXAMINATION", "INDICATION", "TECHNIQUE", "COMPARISON"):
            lines += textwrap.wrap(f"{name}:  {text}", 78) + [""]
        else:
            lines += [f"{name}:", ""] + textwrap.wrap(text, 78) + [""]
    return "\n".join(" " + line if line else " " for line in lines) + "\n"


def _mimic_metadata_row(st: _MimicStudy, dicom: str, view: str, size: tuple[int, int]) -> list[str]:
    procedure = _mimic_procedure(st)
    orientation = {"AP": "Recumbent", "": ""}.get(view, "Erect")
    return [
        dicom,
        str(st.subject),
        str(st.study),
        procedure,
        view,
        str(size[1]),
        str(size[0]),
        st.date,
        st.time,
        procedure,
        _MIMIC_VIEW_MEANING[view],
        orientation,
    ]


def _write_mimic(out_root: Path, seed: int) -> dict:
    root = out_root / SOURCE_DIRS["mimic"] / MIMIC_VERSION
    ledger = _Ledger()
    studies = _mimic_ids(seed)
    metadata: list[list[str]] = []
    splits: list[list[str]] = []
    labels: list[list[str]] = []
    for index, st in enumerate(studies):
        folder = root / "files" / f"p{str(st.subject)[:2]}" / f"p{st.subject}"
        for view, reject in st.views:
            rng = _rng(seed, "mimic", len(metadata))
            dicom = _dicom_id(rng)
            size = (
                (96, 96)
                if reject == "too_small"
                else (_MIMIC_WIDTH, int(rng.choice([1200, 1232, 1248])))
            )
            _write_film(
                folder / f"s{st.study}" / f"{dicom}.jpg",
                rng,
                size,
                lateral=view in ("LATERAL", "LL"),
                reject=reject,
            )
            metadata.append(_mimic_metadata_row(st, dicom, view, size))
            splits.append([dicom, str(st.study), str(st.subject), _MIMIC_SPLIT[st.slot]])
            ledger.add(str(st.subject), reject)
        quirk = _MIMIC_REPORT_QUIRK.get(index)
        if quirk != "no_report":
            report = _mimic_report(st, quirk, _rng(seed, "mimic-report", index))
            write_bytes(folder / f"s{st.study}.txt", report.encode("ascii"))
        if index != _MIMIC_NO_LABELS:
            labels.append(
                [str(st.subject), str(st.study), *(st.labels[name] for name in MIMIC_LABELS)]
            )
    _write_csv(root / "mimic-cxr-2.0.0-metadata.csv.gz", MIMIC_METADATA_HEADER, metadata, gz=True)
    _write_csv(
        root / "mimic-cxr-2.0.0-chexpert.csv.gz",
        ("subject_id", "study_id", *MIMIC_LABELS),
        labels,
        gz=True,
    )
    _write_csv(
        root / "mimic-cxr-2.0.0-split.csv.gz",
        ("dicom_id", "study_id", "subject_id", "split"),
        splits,
        gz=True,
    )
    return ledger.summary()


# --------------------------------------------------------------------------- OpenI
# (MeSH major terms, MeSH automatic terms, FINDINGS, IMPRESSION); XXXX is the
# anonymiser's token, found in thousands of the real reports. As in the real reports,
# automatic terms are often plural ("atelectases", "pleural effusions"), some come from a
# negated sentence ("No pleural effusions ..."), and 95 reports are tagged `No Indexing`
# (not annotated), some with automatic terms all the same.
_OPENI_MESH = (
    (
        ("normal",),
        (),
        "The heart is normal in size. The mediastinum is unremarkable. The lungs are clear.",
        "Normal chest x-XXXX.",
    ),
    (
        ("Cardiomegaly/mild",),
        ("cardiomegaly",),
        "The heart is mildly enlarged. The lungs are clear.",
        "Mild cardiomegaly.",
    ),
    (
        ("Pleural Effusion/right/small",),
        ("pleural effusion",),
        "Small right pleural effusion. No pneumothorax.",
        "Small right pleural effusion.",
    ),
    (
        ("Pulmonary Atelectasis/base/left",),
        ("atelectases",),
        "Streaky opacity at the left base consistent with subsegmental atelectasis.",
        "Left basilar atelectasis.",
    ),
    (
        ("Pneumonia/lung/lower lobe/right",),
        ("pneumonia",),
        "Airspace opacity in the right lower lobe. XXXX XXXX are intact.",
        "Right lower lobe pneumonia.",
    ),
    (
        ("Opacity/lung/base/left/patchy",),
        ("opacity",),
        "Patchy opacity at the left lung base.",
        "Left basilar opacity, XXXX atelectasis or infiltrate.",
    ),
    (
        ("Nodule/lung/upper lobe/right",),
        ("nodule",),
        "8 mm nodule in the right upper lobe.",
        "Right upper lobe nodule. Recommend CT.",
    ),
    (
        ("Calcified Granuloma/lung/upper lobe/right",),
        ("calcified granuloma",),
        "Calcified granuloma in the right upper lobe. No focal consolidation.",
        "No acute cardiopulmonary abnormality.",
    ),
    (
        ("Emphysema", "Cardiomegaly/borderline"),
        ("pulmonary emphysema", "cardiomegaly"),
        "Hyperexpanded lungs with flattened diaphragms. Borderline heart size.",
        "Emphysema. No acute process.",
    ),
    (
        ("No Indexing",),
        (),
        "Heart and mediastinum are normal. Both lungs are clear and expanded.",
        "No active disease.",
    ),
    (
        ("No Indexing",),
        ("nodule",),
        "The lungs are clear. Overlapping bones at the apices could hide a small nodule.",
        "No acute cardiopulmonary disease.",
    ),
    (
        (
            "Opacity/lung/base/bilateral/patchy",
            "Pulmonary Atelectasis/base/bilateral",
            "Infiltrate/lung/base/bilateral",
        ),
        ("atelectases", "infiltrates", "opacity", "pleural effusions", "Atelectasis"),
        "Patchy bibasilar opacities. Small bilateral pleural effusions. No pneumothorax.",
        "Bibasilar atelectasis or infiltrate.",
    ),
    (
        ("Cardiomegaly", "Aorta/tortuous"),
        ("pleural effusions", "Cardiomegaly"),
        "The heart is enlarged. The aorta is tortuous. No pleural effusions or pneumothorax.",
        "Cardiomegaly.",
    ),
)
# (report number, films, MeSH entry, empty sections, defect of one extra image)
_OPENI_REPORTS = (
    (1, 2, 0, ("COMPARISON",), None),
    (2, 2, 1, (), "missing_file"),
    (3, 1, 2, (), None),
    (5, 3, 3, (), None),
    (6, 2, 4, ("FINDINGS",), "outside_raw_root"),
    (8, 2, 5, (), None),
    (10, 1, 6, ("COMPARISON",), None),
    (11, 2, 7, (), "corrupt_image"),
    (13, 3, 8, ("INDICATION",), None),
    (14, 2, 0, ("COMPARISON", "IMPRESSION"), None),
    (17, 2, 1, (), None),
    (20, 1, 0, (), None),
    (22, 0, 2, (), "no_images"),
    (25, 2, 3, (), "bad_xml"),
    (26, 2, 9, ("COMPARISON",), None),
    (27, 2, 10, (), None),
    (29, 3, 11, (), None),
    (30, 2, 0, ("FINDINGS", "IMPRESSION"), None),  # both empty: a label caption
    (34, 1, 12, ("COMPARISON",), None),  # 31, 32: left free for tests that add reports
)
_OPENI_EXTRA = ("missing_file", "corrupt_image", "outside_raw_root")  # extra parentImage
_OPENI_16BIT = 2  # the film index (in write order) saved as a 16-bit PNG


def _openi_image_ids(number: int, films: int, start: int) -> list[str]:
    """Both real naming schemes: CXR1_1_IM-0001-3001 and CXR10_IM-0002-1001."""
    if number % 3 == 1:
        return [f"CXR{number}_1_IM-{start:04d}-{3 + k}001" for k in range(films)]
    return [f"CXR{number}_IM-{start:04d}-{1 + k}001" for k in range(films)]


def _openi_xml(
    number: int, mesh: tuple, empty: Sequence[str], images: list[str], rng: np.random.Generator
) -> str:
    """A report in the NLMCXR shape: all four AbstractText labels always present."""
    majors, automatics, findings, impression = mesh
    text = {
        "COMPARISON": str(rng.choice(["None.", "Chest x-XXXX XXXX."])),
        "INDICATION": str(
            rng.choice(
                ["Positive TB test", "XXXX-year-old male, chest pain.", "Shortness of breath"]
            )
        ),
        "FINDINGS": findings,
        "IMPRESSION": impression,
    }
    abstract = "".join(
        f'\n          <AbstractText Label="{label}">'
        f"{'' if label in empty else escape(text[label])}</AbstractText>"
        for label in text
    )
    terms = "".join(f"\n    <major>{escape(m)}</major>" for m in majors) + "".join(
        f"\n    <automatic>{escape(a)}</automatic>" for a in automatics
    )
    figures = "".join(
        f"\n  <parentImage id={quoteattr(image)}>\n    <figureId>F{k + 1}</figureId>"
        '\n    <caption>Xray Chest PA and Lateral</caption>\n    <panel type="single">'
        f"\n      <url>/hadoop/storage/radiology/extract/{escape(image)}.jpg</url>"
        "\n      <imgModality>7</imgModality>\n    </panel>\n  </parentImage>"
        for k, image in enumerate(images)
    )
    return f"""<?xml version="1.0" encoding="utf-8"?>
<eCitation>
  <meta type="rr"/>
  <uId id="CXR{number}"/>
  <pmcId id="{number}"/>
  <docSource>CXR</docSource>
  <IUXRId id="{number}"/>
  <licenseType>open-access</licenseType>
  <licenseURL>http://creativecommons.org/licenses/by-nc-nd/4.0/</licenseURL>
  <publisher>Indiana University</publisher>
  <title>Indiana University Chest X-ray Collection</title>
  <specialty>pulmonary diseases</specialty>
  <subset>CXR</subset>
  <MedlineCitation Owner="Indiana University" Status="supplied by publisher">
    <Article PubModel="Electronic">
      <ArticleTitle>Indiana University Chest X-ray Collection</ArticleTitle>
      <Abstract>{abstract}
      </Abstract>
    </Article>
  </MedlineCitation>
  <MeSH>{terms}
  </MeSH>{figures}
</eCitation>
"""


def _write_openi(out_root: Path, seed: int) -> dict:
    root = out_root / SOURCE_DIRS["openi"]
    ledger = _Ledger()
    films = 0
    for index, (number, count, mesh, empty, defect) in enumerate(_OPENI_REPORTS):
        rng = _rng(seed, "openi-report", index)
        listed = _openi_image_ids(number, count + (defect in _OPENI_EXTRA), index + 1)
        if defect == "outside_raw_root":
            listed[-1] = "../../../etc/passwd"
        xml = _openi_xml(number, _OPENI_MESH[mesh], empty, listed, rng)
        if defect == "bad_xml":  # a truncated download: not well-formed
            write_bytes(
                root / "ecgen-radiology" / f"{number}.xml", xml[: len(xml) * 3 // 5].encode("ascii")
            )
            ledger.add(None, "bad_xml")
            continue
        write_bytes(root / "ecgen-radiology" / f"{number}.xml", xml.encode("ascii"))
        if not listed:
            ledger.add(f"CXR{number}", "no_images")
        for k, image in enumerate(listed):
            reject = defect if defect in _OPENI_EXTRA and k == count else None
            if reject != "outside_raw_root":
                mode = "I;16" if films == _OPENI_16BIT else "L"
                _write_film(
                    root / "NLMCXR_png" / f"{image}.png",
                    _rng(seed, "openi", films),
                    _OPENI_SIZE,
                    lateral=k % 2 == 1,
                    mode=mode,
                    reject=reject,
                )
                films += 1
            ledger.add(f"CXR{number}", reject)
    return ledger.summary()


# --------------------------------------------------------------------------- public API
def generate_cxr(out_root: Path, *, seed: int = 0) -> dict[str, dict]:
    """Write CheXpert-v1.0-small/, chest_xray8/, mimic-cxr-jpg/, openi/ under out_root.

    Existing files are overwritten in place; the output depends only on `seed`.
    Returns expectations per source key ("chexpert", "nih", "mimic", "openi"):
      {"records": int,            # raw records (CSV/metadata rows, OpenI images,
                                  #   image-less reports and unreadable XML files)
       "rejects": {reason: int},  # expected rejected records by reason code
       "corrections": {reason: int},  # expected corrections of kept records (not rejects)
       "patients": int}           # distinct patients among ALL records (where a
                                  #   patient is identifiable; not for unparseable XML)
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    out_root = Path(out_root)
    writers = {
        "chexpert": _write_chexpert,
        "nih": _write_nih,
        "mimic": _write_mimic,
        "openi": _write_openi,
    }
    expectations = {key: write(out_root, seed) for key, write in writers.items()}
    for name in SOURCE_DIRS.values():  # tells the CLI this folder is generated, not real
        (out_root / name / MARKER).write_text("generated by python -m unimed_kedro.sampledata\n")
    return expectations
