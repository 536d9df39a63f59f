"""LLaVA-Med sample in UniMed's layout: `llava_med/llava_med_alignment_500k_filtered.json`
(a JSON array of `{"id", "image", "conversations"}`, one entry a line), the instruct
figure captions `llava_med_instruct_fig_captions.json` (an object of domain -> list of
`{"pmid", "pair_id", "fig_id", "fig_label", "fig_caption", "in_text_mention", "domain"}`,
indented) and `images/<pair_id>.jpg`, the one image folder of both.

Pixels: `sampledata.unimed.pmc_oa.figure` crops; three images are named by both files
(the same file: duplicates across the two sources), two are byte-identical to PMC-OA and
ROCOv2 files (`shared_with`). Quirks: one image named by two alignment entries, one
pair_id in two domains (each a record of the image, merged), a `NaN` figure caption (as
Python's json writes a missing value) beside an in-text mention, mentions `null` and `[]`. Bad records: an
image never downloaded (`missing_file`, in each file), a download cut short
(`corrupt_image`, found when normalizing), an empty gpt turn and an entry with neither
caption nor mention (`no_caption`), entries without `conversations` or `pair_id` and an
entry that is no JSON (`malformed_entry`).
"""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from unimed_kedro.sampledata.unimed.pmc_oa import (
    SHARED,
    caption,
    figure,
    marker,
    put,
    shared_image,
    stream,
)
from unimed_kedro.sources.registry import entry

ALIGNMENT = "llava_med_alignment_500k_filtered.json"
INSTRUCT = "llava_med_instruct_fig_captions.json"
PROMPT = "<image>\nProvide a brief description of the given image."
# image stem -> kind or shared key; the alignment file's good entries
_ALIGNED = {
    "15862911_F2": "s1",
    "22973172_fig1": "s4",
    "18627621_F2": "xray",
    "24511405_fig1": "xray",
    "16734899_F4": "ct",
    "18727836_F3": "histology",
    "19008992_f5-co15-5-225e62": "histology",
    "22567313_fig5": "histology",
    "25197461_F1": "mr",
    "26171221_F3": "us",
    "27630741_fig2": "ct",
    "28298984_F1": "mr",
    "29541234_F2": "chart",
    "30123456_F1": "xray",
}
_TWICE = "30123456_F1"
_BOTH = ("18627621_F2", "24511405_fig1", "22973172_fig1")  # named by both files
# domain -> (pair_id, kind or shared key, has fig_caption, mention: "text" / None / [])
_INSTRUCT: dict[str, tuple[tuple[str, str, bool, object], ...]] = {
    "chest_xray": (
        ("18627621_F2", "xray", True, "text"),
        ("24511405_fig1", "xray", True, None),
        ("20418567_F1", "xray", False, "text"),
    ),
    "ct_scan": (
        ("21345678_F2", "ct", True, []),
        ("23087654_F1", "ct", True, "text"),  # never downloaded
    ),
    "gross": (("25678901_F3", "histology", True, "text"),),
    "histology": (
        ("22973172_fig1", "s4", True, "text"),
        ("24876543_F3", "histology", False, None),  # nothing to caption with
    ),
    "mri": (
        ("24940083_f2-imcrj-7-093", "s3", True, "text"),
        ("21345678_F2", "ct", True, "text"),  # also in ct_scan: one record
    ),
}


def write(root: Path, rng: np.random.Generator) -> dict:
    """Write `llava_med/` under `root` (the raw_root); the expectations of reading it, for
    `llava_med_alignment` and `llava_med_instruct`: records (distinct images named, plus
    unusable entries), rejects by reason, held out (0: no evaluation split), exported, and
    `shared_with` (sample id -> its file and the sample ids of its byte-identical copies,
    the other LLaVA-Med source's included)."""
    rng = stream(rng, "llava_med")
    folder = root / entry("llava_med_alignment").folder
    images = folder / "images"
    for stem, kind in _ALIGNED.items():
        put(images / f"{stem}.jpg", _image(kind, rng))
    alignment = _alignment(images, rng)
    instruct = _instruct(images, rng)
    marker(folder)
    return {"llava_med_alignment": alignment, "llava_med_instruct": instruct}


def _image(kind: str, rng: np.random.Generator) -> bytes:
    return shared_image(kind) if kind in SHARED else figure(kind, rng)


def _conversation(stem: str, text: str) -> str:
    turns = [{"from": "human", "value": PROMPT}, {"from": "gpt", "value": text}]
    return json.dumps({"id": stem, "image": f"{stem}.jpg", "conversations": turns})


def _alignment(images: Path, rng: np.random.Generator) -> dict:
    """The alignment file, bad entries included; its expectations."""
    entries = [_conversation(s, caption(SHARED.get(k, k), rng)) for s, k in _ALIGNED.items()]
    entries.insert(3, _conversation(_TWICE, "Frontal radiograph, follow-up after two weeks."))
    put(images / "32345678_F2.jpg", figure("ct", rng)[:24])  # cut short: corrupt_image
    put(images / "33456789_F3.jpg", figure("mr", rng))
    bad = [
        (_conversation("31234567_F1", "Axial CT of the pelvis."), "missing_file"),
        (_conversation("32345678_F2", "Coronal CT of the abdomen."), "corrupt_image"),
        (_conversation("33456789_F3", ""), "no_caption"),
        (json.dumps({"id": "34567890_F1", "image": "34567890_F1.jpg"}), "malformed_entry"),
        (
            '{"id": "35678901_F2", "image": "35678901_F2.jpg", "conversations": [}',
            "malformed_entry",
        ),
    ]
    rejects: Counter[str] = Counter()
    for text, reason in bad:
        entries.insert(int(rng.integers(1, len(entries))), text)
        rejects[reason] += 1
    put(images.parent / ALIGNMENT, ("[\n" + ",\n".join(entries) + "\n]\n").encode("utf-8"))
    records = len(_ALIGNED) + len(bad)
    shared = {
        "15862911_F2": ["pmc_oa-pmc2386234_fig2_1", "rocov2-rocov2_2023_train_000004"],
        "22973172_fig1": ["pmc_oa-pmc3512847_f4_3", "llava_med_instruct-22973172_fig1"],
        "18627621_F2": ["llava_med_instruct-18627621_f2"],
        "24511405_fig1": ["llava_med_instruct-24511405_fig1"],
    }
    return _expectations("llava_med_alignment", records, rejects, shared)


def _instruct(images: Path, rng: np.random.Generator) -> dict:
    """The instruct figure-captions file, bad entries included; its expectations."""
    data: dict[str, list[dict]] = {}
    pairs: set[str] = set()
    for domain, plan in _INSTRUCT.items():
        data[domain] = [_figure_entry(domain, p, kind, c, m, rng) for p, kind, c, m in plan]
        for pair_id, kind, _, _ in plan:
            if pair_id not in pairs | set(_ALIGNED) | {"23087654_F1"}:  # that one: never downloaded
                put(images / f"{pair_id}.jpg", _image(kind, rng))
            pairs.add(pair_id)
    broken = _figure_entry("gross", "x", "histology", True, "text", rng)
    del broken["pair_id"]
    data["gross"].append(broken)
    text = json.dumps(data, indent=2)  # a missing caption is written NaN
    put(images.parent / INSTRUCT, (text + "\n").encode("utf-8"))
    rejects = Counter({"missing_file": 1, "no_caption": 1, "malformed_entry": 1})
    shared = {
        "22973172_fig1": ["pmc_oa-pmc3512847_f4_3", "llava_med_alignment-22973172_fig1"],
        "24940083_f2-imcrj-7-093": ["rocov2-rocov2_2023_train_000009"],
        "18627621_F2": ["llava_med_alignment-18627621_f2"],
        "24511405_fig1": ["llava_med_alignment-24511405_fig1"],
    }
    return _expectations("llava_med_instruct", len(pairs) + 1, rejects, shared)


def _figure_entry(
    domain: str, pair_id: str, kind: str, captioned: bool, mention: object, rng: np.random.Generator
) -> dict:
    pmid, _, fig_id = pair_id.partition("_")
    text = caption(SHARED.get(kind, kind), rng)
    mentions = (
        [{"tokens": f"{text.split(' showing ')[0]} ( Figure 1 ) ."}]
        if mention == "text"
        else mention
    )
    return {
        "pmid": pmid,
        "pair_id": pair_id,
        "fig_id": fig_id,
        "fig_label": "Figure 1",
        "fig_caption": text if captioned else float("nan"),
        "in_text_mention": mentions,
        "domain": {d: d == domain for d in ("chest_xray", "ct_scan", "gross", "histology", "mri")},
    }


def _expectations(
    name: str, records: int, rejects: Counter[str], shared: dict[str, list[str]]
) -> dict:
    return {
        "records": records,
        "rejects": dict(sorted(rejects.items())),
        "held_out": 0,
        "exported": records - sum(rejects.values()),
        "shared_with": {
            # sample ids fold as the readers' do: these stems need only lower-casing
            f"{name}-{stem.lower()}": {
                "file": f"images/{stem}.jpg",
                "split": None,
                "copies": copies,
            }
            for stem, copies in sorted(shared.items())
        },
    }
