"""Label captions name a view only when the source recorded one (issue 18)."""

import re

import pytest

from unimed_kedro.captions.cxr.text import label_caption
from unimed_kedro.captions.seeded import sample_rng

VIEW_WORDS = re.compile(r"frontal|lateral|posteroanterior|anteroposterior|\bview\b", re.I)


def _row(view: object, **labels: float) -> dict:
    """An OpenI image as ingest writes it (no view in the XML) with its label columns."""
    row = {"sample_id": "openi-cxr1_1_im-0001-4001", "source": "openi", "view": view}
    row.update({f"label_{k}": v for k, v in labels.items()})
    return row


def _captions(row: dict, params: dict, union: dict, seeds: int = 40) -> set[str]:
    return {
        label_caption(row, sample_rng(seed, row["sample_id"]), params, union)
        for seed in range(seeds)
    }


LABELS = {
    "positive": {"cardiomegaly": 1.0, "effusion": -1.0, "mass": 0.0},
    "normal": {"no_finding": 1.0},
    "unlabelled": {},
}


@pytest.mark.parametrize("kind", sorted(LABELS))
@pytest.mark.parametrize("view", ["UNKNOWN", None, float("nan"), "SWIMMERS"])
def test_an_unknown_view_is_named_nowhere_and_reads_well(cxr_params, vocabulary, kind, view):
    params, union = cxr_params["caption"], vocabulary["labels"]["union"]
    texts = _captions(_row(view, **LABELS[kind]), params, union)
    templates = params["templates"][kind]
    assert len(texts) == len(templates)  # every template used, none left out
    for text in texts:
        assert not VIEW_WORDS.search(text), text
        assert text == " ".join(text.split()) and text[0].isupper(), text
        assert "()" not in text and "( " not in text and " ." not in text, text


def test_known_views_keep_their_phrase(cxr_params, vocabulary):
    params, union = cxr_params["caption"], vocabulary["labels"]["union"]
    for view, phrase in [("PA", "posteroanterior"), ("LL", "left lateral"), ("FRONTAL", "frontal")]:
        for text in _captions(_row(view, **LABELS["positive"]), params, union):
            assert phrase in text.lower() and "[" not in text, text
    paren = [t for t in _captions(_row("AP"), params, union) if "(" in t]
    bracketed = _captions(_row("AP", **LABELS["positive"]), params, union)
    assert not paren and any("(anteroposterior view)" in t for t in bracketed)


def test_the_choice_of_template_is_seeded_as_before(cxr_params, vocabulary):
    """Same seed, same template, view known or not: only the view words differ."""
    params, union = cxr_params["caption"], vocabulary["labels"]["union"]
    for seed in range(20):
        known = label_caption(_row("PA", cardiomegaly=1.0), sample_rng(seed, "x"), params, union)
        unknown = label_caption(
            _row("UNKNOWN", cardiomegaly=1.0), sample_rng(seed, "x"), params, union
        )
        stripped = known.lower().replace(" (posteroanterior view)", "")
        assert unknown.lower() == stripped.replace("posteroanterior ", "")


def test_a_template_with_view_words_outside_brackets_is_refused(cxr_params, vocabulary):
    params = {**cxr_params["caption"]}
    params["templates"] = {**params["templates"], "unlabelled": ["{view} chest radiograph."]}
    union = vocabulary["labels"]["union"]
    assert label_caption(_row("PA"), sample_rng(1, "x"), params, union) == (
        "Posteroanterior chest radiograph."
    )
    with pytest.raises(ValueError, match=r"\{view\} chest radiograph.*\[\.\.\.\]"):
        label_caption(_row("UNKNOWN"), sample_rng(1, "x"), params, union)
