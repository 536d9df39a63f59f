"""OpenI / Indiana University chest X-rays (NLMCXR) in `openi/`.

Reports are `ecgen-radiology/<n>.xml` (`NLMCXR_reports.tgz`); each names 0-5 images as
`<parentImage id="CXR1_1_IM-0001-3001">`, found as PNGs in `NLMCXR_png/` (or `png/`,
`images/`, UniMed's `image/`, or flat in `openi/`). All four AbstractText sections are always
present but may be empty; `XXXX` marks anonymised words. There is no patient id: the report
(`uId`) stands in for the patient. Labels come from the MeSH terms: the first segment of
each manual `<major>` heading (`Calcified Granuloma/lung/upper lobe/right`) and each
`<automatic>` term (`calcified granuloma`, from an indexer that also picks terms out of
negated sentences); `<major>No Indexing</major>` marks a report that was never indexed.
Views are not recorded in the XML, so they stay UNKNOWN.
"""

from __future__ import annotations

import functools
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from pathlib import Path

from unimed_kedro.schema import LABEL_PREFIX, NEGATIVE, POSITIVE, make_sample_id
from unimed_kedro.schema.text import clean_text
from unimed_kedro.sources.base import (
    NOT_UTF8,
    UNDECODABLE_TEXT,
    LayoutError,
    Source,
    SourceInfo,
)
from unimed_kedro.sources.cxr.values import harmonise
from unimed_kedro.sources.paths import SourceFolder, Where
from unimed_kedro.sources.tables import XMLError, read_xml

INFO = SourceInfo(
    name="openi",
    title="OpenI Indiana University Chest X-ray Collection (NLMCXR)",
    license="CC BY-NC-ND 4.0",
    redistributable=False,  # NoDerivatives: resized copies may not be shared
    citation="Demner-Fushman D. et al. Preparing a collection of radiology examinations for "
    "distribution and retrieval. JAMIA 2016;23(2):304-310.",
    patient_note="no patient id is published: the report (uId) stands in for the patient",
)
REPORTS = "ecgen-radiology"
IMAGE_FOLDERS = ["NLMCXR_png", "png", "images", "image", "."]
NOT_INDEXED = "no indexing"  # the <major> of the 95 real reports nobody indexed
# <automatic> terms carry no negation mark, yet some come from negated sentences (real
# report 3584: "There is no pneumothorax or large pleural effusion." gives
# <automatic>Pleural Effusion</automatic>). So a term whose every mention in FINDINGS and
# IMPRESSION follows a negation cue in its clause (NegEx-like) is no positive; "no change
# in" negates nothing, and a clause ends at the words below.
_NEGATION = re.compile(
    r"\b(?:no|not|without|negative for|free of|absence of|clear of)\b"
    r"(?!\s+(?:\w+\s+){0,2}?change\b)",
    re.IGNORECASE,
)
_CLAUSE_END = re.compile(
    r"[;:()]|\b(?:but|however|although|though|which|may|might|could|possibly|except)\b",
    re.IGNORECASE,
)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")


class OpenI(Source):
    info = INFO

    def layout(self) -> Path:
        reports = self.root / REPORTS
        if not reports.is_dir():
            raise LayoutError(f"{self.root}: expected the {REPORTS}/ folder of NLMCXR_reports.tgz")
        return reports

    def records(self, layout: Path) -> Iterator[dict]:
        images = _image_index(self.folder)
        for xml in sorted(layout.glob("*.xml"), key=lambda p: (len(p.stem), p.stem)):
            yield from _report_records(self.folder, xml, self.vocabulary, images)


def _report_records(
    folder: SourceFolder, xml: Path, vocab: Mapping, images: dict[str, str]
) -> list[dict]:
    root, rejects = folder.root, folder.rejects
    file = str(xml.relative_to(root))
    try:
        tree, replaced = read_xml(xml)
    except XMLError as err:
        detail = f"not well-formed XML ({err}); expected an <eCitation> report"
        rejects.add("bad_xml", detail, file=file, row=err.line)
        return []
    node = tree.find("uId")
    uid = (node.get("id") if node is not None else None) or xml.stem
    uid = uid.strip()
    sections = {
        node.get("Label", "").upper(): " ".join(clean_text(node.text or "").split()) or None
        for node in tree.iter("AbstractText")
    }
    ids = [node.get("id", "").strip() for node in tree.iter("parentImage")]
    if not ids:
        rejects.add(
            "no_images",
            f"report {uid} lists no <parentImage>",
            file=file,
            sample_id=make_sample_id(INFO.name, uid),
        )
        return []
    shared = {
        "source": INFO.name,
        "patient_id": f"openi:{uid}",
        "study_id": uid,
        "view": "UNKNOWN",
        "sex": None,
        "age": math.nan,
        "official_split": None,
        "license": INFO.license,
        "report_findings": sections.get("FINDINGS"),
        "report_impression": sections.get("IMPRESSION"),
        **_labels(tree, vocab["labels"]["sources"][INFO.name], sections),
        "_file": file,
        "_row": None,
    }
    return _image_records(folder, shared, ids, images, replaced)


def _image_records(
    folder: SourceFolder, shared: dict, ids: list[str], images: dict[str, str], replaced: bool
) -> list[dict]:
    """One record per listed image that is found; `replaced`: the report's text had bytes
    that are not UTF-8 (a correction of each record)."""
    rejects, file = folder.rejects, shared["_file"]
    records = []
    for image_id in ids:
        sample_id = make_sample_id(INFO.name, image_id)
        where: Where = {"file": file, "row": None, "sample_id": sample_id}
        if folder.inside(f"{image_id}.png", **where) is None:
            continue
        rel = images.get(f"{image_id}.png")
        if rel is None:
            rejects.add(
                "missing_file", f"image {image_id}.png not found in {IMAGE_FOLDERS}", **where
            )
            continue
        if replaced:
            rejects.correct(UNDECODABLE_TEXT, f"{file}: {NOT_UTF8}", **where)
        records.append({**shared, "sample_id": sample_id, "raw_relpath": rel, "_raw_id": image_id})
    return records


def _labels(tree: ET.Element, mapping: dict, sections: dict) -> dict[str, float]:
    """Positive for every mapped MeSH term, an automatic one unless the report negates it;
    negative for the rest of OpenI's vocabulary when the report has MeSH terms at all (as
    TorchXRayVision reads it). A report tagged `No Indexing` is not annotated at all: its
    automatic terms, when it has any, are unchecked (real report 3412 gets "nodule" from
    "could obscure a small pulmonary nodule"), and its normal reports are not negative
    for everything."""
    majors = [_term(n.text).split("/")[0].strip() for n in tree.iter("major")]
    if NOT_INDEXED in majors:
        return {}
    automatic = [_term(n.text) for n in tree.iter("automatic")]
    if not any(majors) and not any(automatic):
        return {}
    text = "\n".join(sections.get(name) or "" for name in ("FINDINGS", "IMPRESSION"))
    positives = [t for t in majors if t] + [
        t for t in automatic if t in mapping and not _negated(t, text)
    ]
    covered = {f"{LABEL_PREFIX}{key}": NEGATIVE for key in mapping.values()}
    return {**covered, **harmonise(dict.fromkeys(positives, POSITIVE), mapping)}


def _negated(term: str, text: str) -> bool:
    """True when `text` mentions `term` and every mention follows a negation cue in its
    clause; a term the text never mentions is the indexer's word, taken as given."""
    mentions = [
        sentence[: m.start()]
        for sentence in _SENTENCE_END.split(text)
        for m in _mention(term).finditer(sentence)
    ]
    return bool(mentions) and all(
        _NEGATION.search(_CLAUSE_END.split(before)[-1]) for before in mentions
    )


@functools.lru_cache(maxsize=1024)
def _mention(term: str) -> re.Pattern[str]:
    """How report text writes `term`: its words in order, each without its inflection, so
    "atelectases" finds "atelectasis" and "opacity" finds "opacities"."""
    words = [(w, re.sub(r"(?:es|is|s|y)$", "", w)) for w in re.findall(r"[a-z]+", term)]
    stems = [stem if len(stem) >= 4 else word for word, stem in words]  # "mass", not "mas"
    return re.compile(r"\b" + r"\W+".join(stems), re.IGNORECASE)


def _term(text: str | None) -> str:
    """A MeSH term as the vocabulary writes it: lower case, single spaces (the real
    reports have `Subcutaneous  Emphysema` and a trailing space)."""
    return " ".join((text or "").lower().split())


def _image_index(folder: SourceFolder) -> dict[str, str]:
    """File name -> path relative to the source folder; a file reached through a link
    leading outside is left out (a record naming it: `outside_raw_root`)."""
    return folder.index_files([folder.root / name for name in IMAGE_FOLDERS], ".png")
