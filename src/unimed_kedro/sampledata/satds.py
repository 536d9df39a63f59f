"""Deterministic raw SAT-DS sample data: 3D segmentation datasets in their official layouts.

Why this exists: the `satds` collection reads each dataset from the folder its archive
unpacks to (MSD `Task09_Spleen/`, `Totalsegmentator_dataset_v201/`, ...), quirks included
(the `relase` typo, `test` entries as plain strings, macOS AppleDouble `._*` files,
4-D multi-channel images, one mask file per structure, a `;`-separated meta.csv with a
BOM, MetaImage `.mhd`/`.raw` pairs), and rejects broken inputs with a reason. The real
datasets are large and licensed, so the Quickstart and the tests run on these toy copies.

What is real: layouts, file-name schemes, dataset.json keys, structure names; and the
brain volumes of `Dataset201_BrainTissue` (nilearn's MNI152 2009a template, its labels from
the template's grey/white matter probability maps). Everything else is a phantom: int16
HU CT "trunks" (air -1000, a soft-tissue body ellipsoid at 20 HU, organs as ellipsoids of
distinct HU, bones around 700) and MRI-like prostates, whose label maps are computed from
the very same ellipsoids, so masks match the organs exactly in any orientation. Volumes
are stored in non-RAS orientations (LPS, PSR, ASL, ...) with anisotropic spacings.

Same seed, same bytes: NIfTI bytes from `to_bytes()` gzipped with `mtime=0`, MetaImage
written by SimpleITK (its headers carry no clock), one random stream per case.
"""

from __future__ import annotations

import functools
import gzip
import importlib.util
import json
import struct
import tempfile
import zlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import nibabel as nib
import numpy as np
from nibabel.orientations import apply_orientation, axcodes2ornt, inv_ornt_aff, ornt_transform

from unimed_kedro.sampledata.cxr import MARKER
from unimed_kedro.sampledata.files import write_bytes

# The dataset folders written under `satds/`, in writing order; SATDS_DIRS: their paths
# relative to the raw root.
FOLDERS = (
    "Task09_Spleen",
    "Task05_Prostate",
    "Totalsegmentator_dataset_v201",
    "Dataset201_BrainTissue",
    "AbdomenCT-1K",
    "PROMISE12",
    "notes",
)
SATDS_DIRS: dict[str, str] = {name: f"satds/{name}" for name in FOLDERS}
REASONS = (
    "no_mask",
    "missing_mask",
    "missing_image",
    "unreadable_image",
    "undeclared_mask_value",
    "shape_mismatch",
    "missing_label_file",
)
INF = float("inf")


# --------------------------------------------------------------------------- phantom
@dataclass(frozen=True)
class _Organ:
    """An ellipsoid in the phantom's RAS frame (mm from the body centre), optionally cut
    to lo <= z < hi (lung lobes)."""

    name: str
    hu: float
    center: tuple[float, float, float]
    semi: tuple[float, float, float]
    z_range: tuple[float, float] = (-INF, INF)


_BODY = _Organ("body", 20.0, (0.0, 0.0, 0.0), (28.0, 21.0, 90.0))
_R_LUNG, _L_LUNG, _LUNG = (13.0, 0.0, 28.0), (-13.0, 0.0, 28.0), (11.0, 13.0, 20.0)
# Painted in this order (a later organ wins a shared voxel); RAS: +x is the patient's right.
_TRUNK = (
    _Organ("lung_upper_lobe_right", -850, _R_LUNG, _LUNG, (34, INF)),
    _Organ("lung_middle_lobe_right", -840, _R_LUNG, _LUNG, (24, 34)),
    _Organ("lung_lower_lobe_right", -860, _R_LUNG, _LUNG, (10, 24)),
    _Organ("lung_upper_lobe_left", -845, _L_LUNG, _LUNG, (28, INF)),
    _Organ("lung_lower_lobe_left", -855, _L_LUNG, _LUNG, (10, 28)),
    _Organ("heart", 45, (-4, 7, 20), (9, 8, 9)),
    _Organ("trachea", -1000, (0, 4, 40), (2.5, 2.5, 10)),
    _Organ("esophagus", 33, (1, -5, 26), (2.5, 2.5, 22)),
    _Organ("liver", 60, (12, 3, 0), (12, 11, 11)),
    _Organ("gallbladder", 10, (9, 12, -6), (3, 3, 4)),
    _Organ("stomach", 30, (-10, 8, 2), (7, 6, 7)),
    _Organ("spleen", 100, (-18, -5, 2), (5, 5, 8)),
    _Organ("kidney_right", 180, (13, -9, -14), (4.5, 4, 8)),
    _Organ("kidney_left", 185, (-13, -9, -12), (4.5, 4, 8)),
    _Organ("pancreas", 130, (-3, 4, -8), (9, 3, 3.5)),
    _Organ("duodenum", 42, (5, 2, -16), (3, 3, 4)),
    _Organ("small_bowel", 52, (0, 10, -24), (10, 6, 6)),
    _Organ("colon", -30, (18, 6, -24), (4, 4, 10)),
    _Organ("colon", -30, (-18, 4, -24), (4, 4, 10)),
    _Organ("urinary_bladder", 5, (0, 8, -40), (7, 6, 6)),
    _Organ("prostate", 48, (0, 4, -47), (3.5, 3, 3.5)),
    _Organ("aorta", 160, (-3, -5, 0), (2.5, 2.5, 100)),
    _Organ("inferior_vena_cava", 145, (4, -4, -10), (2.5, 2.5, 30)),
    _Organ("autochthon_right", 57, (7, -17, 0), (3.5, 3, 100)),
    _Organ("autochthon_left", 58, (-7, -17, 0), (3.5, 3, 100)),
    _Organ("rib_right_6", 600, (24, 0, 30), (2, 9, 2.5)),
    _Organ("rib_left_6", 605, (-24, 0, 30), (2, 9, 2.5)),
    _Organ("rib_right_8", 610, (24, -2, 18), (2, 9, 2.5)),
    _Organ("rib_left_8", 615, (-24, -2, 18), (2, 9, 2.5)),
    _Organ("sternum", 650, (0, 16, 30), (3, 2, 14)),
    _Organ("spinal_cord", 38, (0, -17, 0), (2, 2, 100)),
    *(
        _Organ(f"vertebrae_{name}", 700 + 5 * k, (0, -11, -44 + 8 * k), (4, 4, 3))
        for k, name in enumerate(("S1", "L5", "L4", "L3", "L2", "L1", "T12", "T11", "T10"))
    ),
)
TRUNK_STRUCTURES: tuple[str, ...] = tuple(dict.fromkeys(o.name for o in _TRUNK))
_HU = np.array([_BODY.hu] + [next(o.hu for o in _TRUNK if o.name == n) for n in TRUNK_STRUCTURES])

# The 117 structure files of every TotalSegmentator v2.0.1 case (Zenodo 10047292), by the
# group SAT-DS cuts it into; those not in TRUNK_STRUCTURES are empty masks, as many real
# structure files are. Every group has foreground in every case written.
_TS_GROUPS = {
    "v2": """atrial_appendage_left brachiocephalic_trunk brachiocephalic_vein_left
        brachiocephalic_vein_right common_carotid_artery_left common_carotid_artery_right
        costal_cartilages heart kidney_cyst_left kidney_cyst_right prostate pulmonary_vein
        skull spinal_cord sternum subclavian_artery_left subclavian_artery_right
        superior_vena_cava thyroid_gland vertebrae_S1""",
    "organs": """adrenal_gland_left adrenal_gland_right colon duodenum esophagus gallbladder
        kidney_left kidney_right liver lung_lower_lobe_left lung_lower_lobe_right
        lung_middle_lobe_right lung_upper_lobe_left lung_upper_lobe_right pancreas
        small_bowel spleen stomach trachea urinary_bladder""",
    "vertebrae": "sacrum "
    + " ".join(
        f"vertebrae_{p}{k}" for p, n in (("C", 7), ("T", 12), ("L", 5)) for k in range(1, n + 1)
    ),
    "cardiac": """aorta iliac_artery_left iliac_artery_right iliac_vena_left iliac_vena_right
        inferior_vena_cava portal_vein_and_splenic_vein""",
    "muscles": """autochthon_left autochthon_right brain clavicula_left clavicula_right
        femur_left femur_right gluteus_maximus_left gluteus_maximus_right gluteus_medius_left
        gluteus_medius_right gluteus_minimus_left gluteus_minimus_right hip_left hip_right
        humerus_left humerus_right iliopsoas_left iliopsoas_right scapula_left scapula_right""",
    "ribs": " ".join(f"rib_{side}_{k}" for side in ("left", "right") for k in range(1, 13)),
}
TS_GROUPS: dict[str, tuple[str, ...]] = {g: tuple(sorted(v.split())) for g, v in _TS_GROUPS.items()}
TS_STRUCTURES: tuple[str, ...] = tuple(sorted(n for names in TS_GROUPS.values() for n in names))
TS_MISSING_STRUCTURE = "pancreas"  # the structure file s0004 lacks


@dataclass(frozen=True)
class _Grid:
    """A volume's sampling: shape and spacing along R, A, S (canonical order), the
    orientation it is stored in, the FOV centre's z in the phantom frame, and a scanner
    offset added to the affine (the phantom does not move)."""

    shape: tuple[int, int, int]
    spacing: tuple[float, float, float]
    axcodes: str
    z_center: float = 0.0
    origin: tuple[float, float, float] = (0.0, 0.0, 0.0)


def _rng(seed: int, source: str, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, zlib.crc32(source.encode()), *keys])


def _grid(
    rng: np.random.Generator,
    axcodes: str,
    z_center: float,
    shape: tuple[int, int, int] = (32, 26, 22),
    spacing: tuple[float, float, float] = (2.25, 2.3, 4.0),
) -> _Grid:
    """A jittered grid: a few voxels more or less per side, spacings +-7 %."""
    nx, ny, nz = (int(n + rng.integers(-2, 3)) for n in shape)
    sx, sy, sz = (round(float(s * rng.uniform(0.93, 1.07)), 3) for s in spacing)
    ox, oy, oz = (round(float(v), 1) for v in rng.uniform(-40.0, 40.0, 3))
    return _Grid((nx, ny, nz), (sx, sy, sz), axcodes, z_center, (ox, oy, oz))


def _coords(grid: _Grid) -> list[np.ndarray]:
    """Open (broadcastable) x, y, z phantom coordinates of the canonical grid's voxels."""
    axes = [(np.arange(n) - (n - 1) / 2.0) * s for n, s in zip(grid.shape, grid.spacing)]
    axes[2] = axes[2] + grid.z_center
    return list(np.ix_(*axes))


def _inside(organ: _Organ, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    (cx, cy, cz), (ax, ay, az) = organ.center, organ.semi
    mask = ((x - cx) / ax) ** 2 + ((y - cy) / ay) ** 2 + ((z - cz) / az) ** 2 < 1.0
    lo, hi = organ.z_range
    return mask & (z >= lo) & (z < hi)


def _trunk(grid: _Grid, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """CT phantom on the canonical grid: (int16 HU, uint8 label map whose value k + 1 is
    TRUNK_STRUCTURES[k]). Each case's anatomy is shifted (+-2 mm) and scaled (+-5 %)."""
    shift, scale = rng.uniform(-2.0, 2.0, 3), rng.uniform(0.95, 1.05)
    x, y, z = ((c - s) / scale for c, s in zip(_coords(grid), shift))
    body = _inside(_BODY, x, y, z)
    labels = np.zeros(grid.shape, np.uint8)
    for organ in _TRUNK:
        labels[body & _inside(organ, x, y, z)] = TRUNK_STRUCTURES.index(organ.name) + 1
    hu = np.where(body, _HU[labels], -1000.0) + rng.normal(0.0, 6.0, grid.shape)
    return np.clip(np.rint(hu), -1024, 3071).astype(np.int16), labels


def _label_map(labels: np.ndarray, values: dict[str, int]) -> np.ndarray:
    """A dataset's own label map from the phantom's: structure name -> value."""
    out = np.zeros(labels.shape, np.uint8)
    for name, value in values.items():
        out[labels == TRUNK_STRUCTURES.index(name) + 1] = value
    return out


def _prostate_mri(grid: _Grid, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """MRI-like prostate on the canonical grid: (float32 (X, Y, Z, 2) T2 and ADC, uint8
    labels 1 transition zone, 2 peripheral zone = posterior rest of the gland)."""
    shift = rng.uniform(-1.5, 1.5, 3)
    x, y, z = (c - s for c, s in zip(_coords(grid), shift))
    body = _inside(_Organ("body", 0, (0, 0, 0), (18, 16, 60)), x, y, z)
    rectum = _inside(_Organ("rectum", 0, (0, -12, 0), (5, 4, 20)), x, y, z)
    gland = _inside(_Organ("prostate", 0, (0, 0, 0), (12, 9, 14)), x, y, z)
    tz = _inside(_Organ("tz", 0, (0, 2, 0), (7, 5.5, 9)), x, y, z)
    region = np.select([tz, gland & (y < 1.0), gland, rectum, body], [1, 2, 3, 4, 5], 0)
    # per region (air, TZ, PZ, anterior stroma, rectum, body): T2 and ADC
    t2 = np.array([5, 380, 620, 200, 60, 250], np.float32)[region]
    adc = np.array([0, 1100, 1500, 900, 300, 1000], np.float32)[region]
    t2 = np.abs(t2 + rng.normal(0, 15, grid.shape))
    adc = np.abs(adc + rng.normal(0, 40, grid.shape))
    labels = np.where(region <= 2, region, 0).astype(np.uint8)
    return np.stack([t2, adc], axis=-1).astype(np.float32), labels


# --------------------------------------------------------------------------- storage
def _reorient(
    affine_ras: np.ndarray, axcodes: str, arrays: list[np.ndarray]
) -> tuple[np.ndarray, list[np.ndarray]]:
    """Arrays in canonical RAS order -> stored in `axcodes` order, with the matching
    affine (trailing axes such as channels are kept)."""
    ornt = ornt_transform(axcodes2ornt(("R", "A", "S")), axcodes2ornt(tuple(axcodes)))
    shape = arrays[0].shape[:3]
    affine = affine_ras @ inv_ornt_aff(ornt, shape)
    return affine, [np.ascontiguousarray(apply_orientation(a, ornt)) for a in arrays]


def _store(grid: _Grid, arrays: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    affine = np.diag([*grid.spacing, 1.0])
    centre = np.array([0.0, 0.0, grid.z_center]) + np.array(grid.origin)
    affine[:3, 3] = centre - (np.array(grid.shape) - 1) / 2.0 * np.array(grid.spacing)
    return _reorient(affine, grid.axcodes, arrays)


def _nifti(data: np.ndarray, affine: np.ndarray, *, inter: float | None = None) -> bytes:
    """Gzipped NIfTI-1 bytes, qform and sform both 'scanner'. `inter` sets scl_slope 1
    and that scl_inter in the header (a CT stored as uint16 HU + 1024)."""
    img = nib.Nifti1Image(data, affine)
    img.set_qform(affine, code=1)
    img.set_sform(affine, code=1)
    img.header.set_xyzt_units("mm", "sec")
    raw = bytearray(img.to_bytes())
    if inter is not None:
        struct.pack_into(f"{img.header.endianness}ff", raw, 112, 1.0, inter)
    return gzip.compress(bytes(raw), compresslevel=6, mtime=0)


# What macOS tar leaves beside every file: an AppleDouble header, an empty Finder info
# entry and the resource-fork filler text. Not a NIfTI, whatever its name says.
_APPLEDOUBLE = (
    struct.pack(">IIH", 0x00051607, 0x00020000, 0)
    + b"Mac OS X        "
    + struct.pack(">HIIIIII", 2, 9, 50, 32, 2, 82, 286)
    + bytes(32)
    + b"This resource fork intentionally left blank   ".ljust(286, b"\0")
)


def _write_with_appledouble(path: Path, data: bytes) -> None:
    write_bytes(path, data)
    write_bytes(path.with_name("._" + path.name), _APPLEDOUBLE)


def _write_json(path: Path, payload: dict) -> None:
    write_bytes(path, (json.dumps(payload, indent=4) + "\n").encode("utf-8"))


# --------------------------------------------------------------------------- bookkeeping
@dataclass
class _Ledger:
    """What one writer emitted: raw records, the rejects they must cause, the patients,
    and the official split of each record that is not rejected."""

    records: int = 0
    rejects: Counter[str] = field(default_factory=Counter)
    patients: set[str] = field(default_factory=set)
    splits: Counter[str] = field(default_factory=Counter)

    def add(self, patient: str, reject: str | None = None, split: str = "train") -> None:
        if reject is not None and reject not in REASONS:
            raise ValueError(f"unknown reason code {reject!r}")
        self.records += 1
        self.patients.add(patient)
        if reject is None:
            self.splits[split] += 1
        else:
            self.rejects[reject] += 1

    def summary(self) -> dict:
        return {
            "records": self.records,
            "rejects": dict(sorted(self.rejects.items())),
            "patients": len(self.patients),
            "official_split": dict(sorted(self.splits.items())),
            "skipped": False,
        }


# --------------------------------------------------------------------------- MSD
_CT_ORIENTATIONS = ("LPS", "PSR", "LAS", "ASL", "RPI", "LIP", "SRA", "PLI")
_MR_ORIENTATIONS = ("LPS", "RPI", "LAS", "PSR")
# (case number, fault); "scaled" is readable: uint16 data with scl_inter -1024.
_SPLEEN_TRAIN: tuple[tuple[int, str | None], ...] = (
    (1, None),
    (2, None),
    (3, "scaled"),
    (5, None),
    (6, None),
    (8, "missing_mask"),
    (9, "missing_image"),
    (10, "unreadable_image"),
    (12, "undeclared_mask_value"),
    (13, "shape_mismatch"),
)
_SPLEEN_TEST = (20, 21)
_PROSTATE_CASES = (0, 1, 2)


def _msd_json(meta: dict, training: list[str], test: list[str]) -> dict:
    """dataset.json as the MSD tarballs ship it: `licence`, the `relase` typo, `./`
    paths, `test` as plain strings. `meta`: name, description, reference, then the
    tensorImageSize, modality and labels."""
    head, tail = list(meta.items())[:3], list(meta.items())[3:]
    return {
        **dict(head),
        "licence": "CC-BY-SA 4.0",
        "relase": "1.0 06/08/2018",
        **dict(tail),
        "numTraining": len(training),
        "numTest": len(test),
        "training": [
            {"image": f"./imagesTr/{name}", "label": f"./labelsTr/{name}"} for name in training
        ],
        "test": [f"./imagesTs/{name}" for name in test],
    }


def _spleen_case(folder: Path, seed: int, index: int, number: int, fault: str | None) -> None:
    name = f"spleen_{number}.nii.gz"
    rng = _rng(seed, "satds-spleen", number)
    grid = _grid(rng, _CT_ORIENTATIONS[index % len(_CT_ORIENTATIONS)], z_center=-6.0)
    hu, labels = _trunk(grid, rng)
    mask = _label_map(labels, {"spleen": 1})
    if fault == "undeclared_mask_value":  # a liver left in from another annotation task
        mask[labels == TRUNK_STRUCTURES.index("liver") + 1] = 2
    affine, (hu, mask) = _store(grid, [hu, mask])
    if fault == "shape_mismatch":
        mask = mask[:, :, :-1]
    if fault == "scaled":
        image = _nifti((hu.astype(np.int32) + 1024).astype(np.uint16), affine, inter=-1024.0)
    else:
        image = _nifti(hu, affine)
    if fault == "unreadable_image":  # a download cut off halfway
        image = image[: len(image) // 2]
    if fault != "missing_image":
        _write_with_appledouble(folder / "imagesTr" / name, image)
    if fault != "missing_mask":
        _write_with_appledouble(folder / "labelsTr" / name, _nifti(mask, affine))


def _write_spleen(root: Path, seed: int) -> dict:
    folder = root / "Task09_Spleen"
    ledger = _Ledger()
    for index, (number, fault) in enumerate(_SPLEEN_TRAIN):
        _spleen_case(folder, seed, index, number, fault)
        reject = fault if fault in REASONS else None
        ledger.add(f"spleen_{number}.nii.gz", reject)
    for number in _SPLEEN_TEST:
        rng = _rng(seed, "satds-spleen", number)
        grid = _grid(rng, _CT_ORIENTATIONS[number % len(_CT_ORIENTATIONS)], z_center=-6.0)
        hu, _ = _trunk(grid, rng)
        affine, (hu,) = _store(grid, [hu])
        _write_with_appledouble(folder / "imagesTs" / f"spleen_{number}.nii.gz", _nifti(hu, affine))
        ledger.add(f"spleen_{number}.nii.gz", "no_mask")
    meta = {
        "name": "Spleen",
        "description": "Spleen Segmentation",
        "reference": "Memorial Sloan Kettering Cancer Center",
        "tensorImageSize": "3D",
        "modality": {"0": "CT"},
        "labels": {"0": "background", "1": "spleen"},
    }
    training = [f"spleen_{n}.nii.gz" for n, _ in _SPLEEN_TRAIN]
    test = [f"spleen_{n}.nii.gz" for n in _SPLEEN_TEST]
    _write_json(folder / "dataset.json", _msd_json(meta, training, test))
    return ledger.summary()


def _mri_grid(rng: np.random.Generator, axcodes: str) -> _Grid:
    return _grid(rng, axcodes, 0.0, shape=(40, 36, 14), spacing=(1.0, 1.1, 3.5))


def _write_prostate(root: Path, seed: int) -> dict:
    """4-D MSD task: each (X, Y, Z, 2) image gives two samples (T2, ADC), one patient.
    Case 01 is stored as int16, the others as float32."""
    folder = root / "Task05_Prostate"
    ledger = _Ledger()
    names = [f"prostate_{n:02d}.nii.gz" for n in _PROSTATE_CASES]
    for number, name in zip(_PROSTATE_CASES, names):
        rng = _rng(seed, "satds-prostate", number)
        grid = _mri_grid(rng, _MR_ORIENTATIONS[number % len(_MR_ORIENTATIONS)])
        image, labels = _prostate_mri(grid, rng)
        if number == 1:
            image = np.rint(image).astype(np.int16)
        affine, (image, labels) = _store(grid, [image, labels])
        _write_with_appledouble(folder / "imagesTr" / name, _nifti(image, affine))
        _write_with_appledouble(folder / "labelsTr" / name, _nifti(labels, affine))
        for _channel in ("T2", "ADC"):
            ledger.add(name)
    meta = {
        "name": "PROSTATE",
        "description": "Prostate transitional zone and peripheral zone segmentation",
        "reference": "Radboud University, Nijmegen Medical Centre",
        "tensorImageSize": "4D",
        "modality": {"0": "T2", "1": "ADC"},
        "labels": {"0": "background", "1": "TZ", "2": "PZ"},
    }
    _write_json(folder / "dataset.json", _msd_json(meta, names, []))
    return ledger.summary()


# --------------------------------------------------------------------------- TotalSegmentator
_TS_HEADER = (
    "image_id;age;gender;institute;study_type;split;manufacturer;scanner_model;kvp;"
    "pathology;pathology_location"
)
# case -> (meta.csv row after image_id, or None: the folder is not listed; fault)
_TS_CASES: dict[str, tuple[str | None, str | None]] = {
    "s0001": (
        "64;m;A;ct abdomen-pelvis;train;Siemens;SOMATOM Definition AS+;120;no_pathology;",
        None,
    ),
    "s0002": ("51;f;B;ct thorax;val;GE;Revolution CT;100;tumor;lung", None),
    "s0003": ("77;m;C;ct thorax-abdomen-pelvis;test;Philips;iCT 256;120;inflammation;colon", None),
    "s0004": (
        "45;f;A;ct abdomen;train;Siemens;SOMATOM Force;90;no_pathology;",
        "missing_label_file",
    ),
    "s0005": (
        "69;m;D;ct thorax-abdomen;train;Toshiba;Aquilion ONE;120;vascular;aorta",
        "missing_image",
    ),
    "s0006": (None, None),
}


def _ts_case(root: Path, seed: int, index: int, case: str, fault: str | None) -> None:
    rng = _rng(seed, "satds-totalseg", index)
    grid = _grid(rng, _CT_ORIENTATIONS[index % len(_CT_ORIENTATIONS)], 0.0, shape=(32, 26, 24))
    hu, labels = _trunk(grid, rng)
    affine, (hu, labels) = _store(grid, [hu, labels])
    if fault != "missing_image":
        write_bytes(root / case / "ct.nii.gz", _nifti(hu, affine))
    for structure in TS_STRUCTURES:
        if fault == "missing_label_file" and structure == TS_MISSING_STRUCTURE:
            continue
        value = TRUNK_STRUCTURES.index(structure) + 1 if structure in TRUNK_STRUCTURES else -1
        mask = (labels == value).astype(np.uint8)
        write_bytes(root / case / "segmentations" / f"{structure}.nii.gz", _nifti(mask, affine))


def _write_totalseg(root: Path, seed: int) -> dict:
    """One record per case folder; the official split is meta.csv's (val counts as
    train), `unknown` for a folder meta.csv does not list."""
    folder = root / "Totalsegmentator_dataset_v201"
    ledger = _Ledger()
    rows = [_TS_HEADER]
    for index, (case, (row, fault)) in enumerate(_TS_CASES.items()):
        _ts_case(folder, seed, index, case, fault)
        split = "unknown" if row is None else row.split(";")[4]
        ledger.add(case, fault, "train" if split == "val" else split)
        if row is not None:
            rows.append(f"{case};{row}")
    write_bytes(folder / "meta.csv", ("\n".join(rows) + "\n").encode("utf-8-sig"))
    return ledger.summary()


# --------------------------------------------------------------------------- nnU-Net v2
_BRAIN_CASES = (("BrainTissue_001", "RAS"), ("BrainTissue_002", "LPS"), ("BrainTissue_003", "ASL"))
_BRAIN_VOXEL = 3  # mm: the 1 mm template is block-averaged 3x3x3
_MNI = "mni_icbm152_{}_tal_nlin_sym_09a_converted.nii.gz"


def _block_mean(volume: np.ndarray, start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    f = _BRAIN_VOXEL
    n = (stop - start) // f
    crop = volume[tuple(slice(a, a + k * f) for a, k in zip(start, n))].astype(np.float32)
    return crop.reshape(n[0], f, n[1], f, n[2], f).mean(axis=(1, 3, 5))


def _nilearn_data() -> Path | None:
    """nilearn's shipped data folder, found without importing nilearn."""
    spec = importlib.util.find_spec("nilearn")
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data"
    return folder if (folder / _MNI.format("t1")).is_file() else None


def _synthetic_brain() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Nested ellipsoids standing in for the template when nilearn is not installed."""
    grid = _Grid((48, 60, 50), (3.0, 3.0, 3.0), "RAS")
    x, y, z = _coords(grid)
    inner = _inside(_Organ("wm", 0, (0, 0, 5), (50, 62, 45)), x, y, z)
    outer = _inside(_Organ("gm", 0, (0, 0, 5), (66, 80, 60)), x, y, z)
    gm = np.where(outer & ~inner, 255.0, 0.0)
    wm = np.where(inner, 255.0, 0.0)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    affine[:3, 3] = -(np.array(grid.shape) - 1) / 2.0 * 3.0
    return gm * 0.6 + wm * 0.85, gm, wm, affine


@functools.lru_cache(maxsize=1)
def _brain() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(int16 T1, uint8 labels 1 grey / 2 white matter, RAS affine) at 3 mm: the MNI152
    2009a template cropped to the brain (+6 mm) and block-averaged; a voxel is labelled
    with the larger of its mean grey / white probabilities when that is >= 0.5."""
    data = _nilearn_data()
    if data is None:
        t1, gm, wm, affine = _synthetic_brain()
    else:
        images = [nib.Nifti1Image.from_filename(data / _MNI.format(n)) for n in ("t1", "gm", "wm")]
        t1_1mm, gm_1mm, wm_1mm = (np.asarray(img.dataobj) for img in images)
        inside = np.argwhere(gm_1mm.astype(np.int32) + wm_1mm > 64)
        start = np.maximum(inside.min(axis=0) - 6, 0)
        stop = np.minimum(inside.max(axis=0) + 7, t1_1mm.shape)
        t1, gm, wm = (_block_mean(v, start, stop) for v in (t1_1mm, gm_1mm, wm_1mm))
        scale = np.diag([_BRAIN_VOXEL] * 3 + [1.0])
        scale[:3, 3] = start + (_BRAIN_VOXEL - 1) / 2.0
        affine = images[0].affine @ scale
    labels = np.where(np.maximum(gm, wm) >= 127.5, np.where(gm >= wm, 1, 2), 0)
    return np.rint(t1).astype(np.int16), labels.astype(np.uint8), affine


def _write_brain(root: Path, seed: int) -> dict:
    """nnU-Net v2 layout with no registry entry; the same real anatomy in three
    orientations (the seed changes nothing here)."""
    folder = root / "Dataset201_BrainTissue"
    ledger = _Ledger()
    t1, labels, affine_ras = _brain()
    for case, axcodes in _BRAIN_CASES:
        affine, (image, mask) = _reorient(affine_ras, axcodes, [t1, labels])
        write_bytes(folder / "imagesTr" / f"{case}_0000.nii.gz", _nifti(image, affine))
        write_bytes(folder / "labelsTr" / f"{case}.nii.gz", _nifti(mask, affine))
        ledger.add(case)
    meta = {
        "channel_names": {"0": "T1"},
        "labels": {"background": 0, "gray matter": 1, "white matter": 2},
        "numTraining": len(_BRAIN_CASES),
        "file_ending": ".nii.gz",
        "name": "BrainTissue",
        "description": "MNI152 2009a template, tissue labels from its probability maps",
    }
    _write_json(folder / "dataset.json", meta)
    return ledger.summary()


# --------------------------------------------------------------------------- pairs
ABDOMEN_VALUES = {"liver": 1, "kidney_right": 2, "kidney_left": 2, "spleen": 3, "pancreas": 4}
_ABDOMEN_CASES: dict[str, str | None] = {
    "Case_00001": None,
    "Case_00002": None,
    "Case_00003": "missing_mask",
    "Case_00004": None,
}


def _write_abdomen(root: Path, seed: int) -> dict:
    """`Images/<case>_0000.nii.gz` + `Masks/<case>.nii.gz` (1 liver, 2 kidney, 3 spleen,
    4 pancreas); no official split."""
    folder = root / "AbdomenCT-1K"
    ledger = _Ledger()
    for index, (case, fault) in enumerate(_ABDOMEN_CASES.items()):
        rng = _rng(seed, "satds-abdomen", index)
        orientation = _CT_ORIENTATIONS[(index + 3) % len(_CT_ORIENTATIONS)]
        grid = _grid(rng, orientation, z_center=-6.0, spacing=(2.2, 2.35, 3.0))
        hu, labels = _trunk(grid, rng)
        affine, (hu, mask) = _store(grid, [hu, _label_map(labels, ABDOMEN_VALUES)])
        write_bytes(folder / "Images" / f"{case}_0000.nii.gz", _nifti(hu, affine))
        if fault != "missing_mask":
            write_bytes(folder / "Masks" / f"{case}.nii.gz", _nifti(mask, affine))
        ledger.add(case, fault, "unknown")
    return ledger.summary()


_PROMISE_CASES = (
    ("TrainingData_Part1", "Case00", "LPS"),
    ("TrainingData_Part1", "Case01", "LPI"),
    ("TrainingData_Part2", "Case26", "RAI"),
)


def _metaimage(folder: Path, name: str, data: np.ndarray, affine: np.ndarray) -> None:
    """`name.mhd` + `name.raw` written by SimpleITK; ITK's frame is LPS, our affine RAS."""
    import SimpleITK as sitk

    flip = np.diag([-1.0, -1.0, 1.0])
    lps = flip @ affine[:3, :3]
    spacing = np.linalg.norm(lps, axis=0)
    img = sitk.GetImageFromArray(np.ascontiguousarray(data.transpose(2, 1, 0)))
    img.SetSpacing([float(s) for s in spacing])
    img.SetDirection([float(v) for v in (lps / spacing).ravel()])
    img.SetOrigin([float(v) for v in flip @ affine[:3, 3]])
    with tempfile.TemporaryDirectory() as tmp:
        sitk.WriteImage(img, str(Path(tmp) / f"{name}.mhd"), False)
        for suffix in (".mhd", ".raw"):
            write_bytes(folder / f"{name}{suffix}", (Path(tmp) / f"{name}{suffix}").read_bytes())


def _write_promise(root: Path, seed: int) -> dict:
    """MetaImage pairs `CaseNN.mhd` + `CaseNN_segmentation.mhd` (1 = prostate) in the
    training parts; `TestData/Case30.mhd` has no segmentation and is not read."""
    folder = root / "PROMISE12"
    ledger = _Ledger()
    for index, (part, case, axcodes) in enumerate(_PROMISE_CASES):
        rng = _rng(seed, "satds-promise", index)
        grid = _mri_grid(rng, axcodes)
        image, labels = _prostate_mri(grid, rng)
        t2, mask = np.rint(image[..., 0]).astype(np.int16), (labels > 0).astype(np.uint8)
        affine, (t2, mask) = _store(grid, [t2, mask])
        _metaimage(folder / part, case, t2, affine)
        _metaimage(folder / part, f"{case}_segmentation", mask, affine)
        ledger.add(case)  # the registry entry declares its training parts `train`
    rng = _rng(seed, "satds-promise", len(_PROMISE_CASES))
    grid = _mri_grid(rng, "LPS")
    image, _ = _prostate_mri(grid, rng)
    affine, (t2,) = _store(grid, [np.rint(image[..., 0]).astype(np.int16)])
    _metaimage(folder / "TestData", "Case30", t2, affine)
    return ledger.summary()


def _write_notes(root: Path, seed: int) -> dict:
    text = (
        "Notes on the SAT-DS sample folders. This folder is not a dataset: it has no\n"
        "dataset.json and no registry entry, so the satds pipeline skips it.\n"
    )
    write_bytes(root / "notes" / "README.txt", text.encode("ascii"))
    return {"records": 0, "rejects": {}, "patients": 0, "official_split": {}, "skipped": True}


# --------------------------------------------------------------------------- public API
def generate_satds(out: Path, seed: int = 0) -> dict[str, dict]:
    """Write the SAT-DS sample folders under `out/satds/` (`out` is the raw root).

    Existing files are overwritten in place (unchanged ones are not touched); the output
    depends only on `seed`. Returns expectations per dataset folder name (FOLDERS):
      {"records": int,   # raw records = exported samples + rejected ones. One per
                         #   training entry and test string of an MSD dataset.json (a
                         #   4-D image: one per channel), per case folder of
                         #   TotalSegmentator, per nnU-Net imagesTr case, per pairs image.
       "rejects": {reason: int},  # expected rejected records by reason code (REASONS)
       "patients": int,  # distinct patients among ALL records, rejected ones included
       "official_split": {split: int},  # exported (not rejected) records by official
                         #   split: MSD/nnU-Net training = train, TotalSegmentator per
                         #   meta.csv (val -> train; not listed -> unknown), AbdomenCT-1K
                         #   unknown, PROMISE12 train (its entry declares the training parts)
       "skipped": bool}  # True only for `notes/`: no dataset.json, no entry, no records
    TotalSegmentator's folder feeds six datasets (TS_GROUPS, each reading every case):
    the counts returned are those of the one whose structures include
    TS_MISSING_STRUCTURE (pancreas: the organs group); each of the five others gets the
    same counts without the missing_label_file reject.
    """
    if seed < 0:
        raise ValueError(f"seed must be >= 0, got {seed}")
    root = Path(out) / "satds"
    writers = {
        "Task09_Spleen": _write_spleen,
        "Task05_Prostate": _write_prostate,
        "Totalsegmentator_dataset_v201": _write_totalseg,
        "Dataset201_BrainTissue": _write_brain,
        "AbdomenCT-1K": _write_abdomen,
        "PROMISE12": _write_promise,
        "notes": _write_notes,
    }
    expectations = {}
    for name, write in writers.items():
        expectations[name] = write(root, seed)
        write_bytes(root / name / MARKER, b"generated by python -m unimed_kedro.sampledata\n")
    return expectations
