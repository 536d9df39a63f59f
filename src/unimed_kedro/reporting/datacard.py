"""The data card of a collection: what is in it, where it comes from, what was left out
and how it was built, as one self-contained HTML page and its Markdown twin.

`datacard_context` turns the build's tables into display-ready strings and tables; the two
Jinja templates in `templates/` only lay them out, so HTML and Markdown say the same thing.
The HTML page loads nothing: CSS is inline, charts are inline SVG and the thumbnail sheet
is a `data:` URI. The Markdown twin points to the files next to it instead.
"""

from __future__ import annotations

import base64
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
import yaml
from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from unimed_kedro.reporting.summary import (
    display_name,
    label_counts,
    split_balance,
    split_counts,
)
from unimed_kedro.reporting.svg import inline_svg
from unimed_kedro.schema import SPLITS, label_columns_in

# Files the Markdown card links to; catalog.yml writes them next to the card.
THUMBNAILS_FILE = "thumbnails.png"


@dataclass(frozen=True)
class Table:
    """Cells already formatted as text; `numeric` columns are right-aligned."""

    columns: list[str]
    rows: list[list[str]]
    numeric: list[bool] = field(default_factory=list)
    code: list[bool] = field(default_factory=list)  # columns shown as code (ids, paths)

    def align(self, i: int) -> str:
        return "right" if i < len(self.numeric) and self.numeric[i] else "left"

    def is_code(self, i: int) -> bool:
        return i < len(self.code) and self.code[i]


@dataclass(frozen=True)
class Chart:
    title: str
    file: str  # the same chart as an .svg file next to the card (Markdown links to it)
    svg: str


def _cell(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _share(part: int, whole: int) -> str:
    return f"{100 * part / whole:.1f} %" if whole else ""


def _yes_no(flag: bool) -> str:
    return "yes" if flag else "no"


def source_table(statistics: dict, samples: pd.DataFrame, infos: dict[str, dict]) -> Table:
    """Raw, exported and rejected records (and held-out ones, for a collection that holds
    evaluation data out), patients and split sizes per source."""
    per_split = split_counts(samples)
    held = any("held_out" in s for s in statistics["sources"].values())
    rows = []
    for name, stats in sorted(statistics["sources"].items()):
        splits = [int(per_split.loc[name, s]) if name in per_split.index else 0 for s in SPLITS]
        counts = [stats["raw_records"], stats["exported"], stats["rejected"]]
        counts += [stats.get("held_out", 0)] if held else []
        rows.append(
            [
                infos.get(name, {}).get("title", name),
                *counts,
                stats["patients"],
                *splits,
                "✓" if stats["conserved"] else "✗ mismatch",
            ]
        )
    numbers = len(rows[0]) - 2 if rows else 0
    rows.append(["all sources", *[sum(r[i] for r in rows) for i in range(1, numbers + 1)], ""])
    columns = ["Source", "Raw records", "Exported", "Rejected", *(["Held out"] if held else [])]
    columns += ["Patients", *SPLITS]
    columns.append("Exported + rejected + held out = raw" if held else "Exported + rejected = raw")
    return Table(columns, [[_cell(c) for c in r] for r in rows], [False] + [True] * numbers)


def split_table(samples: pd.DataFrame) -> Table:
    per_split = split_counts(samples)
    total = len(samples)
    rows = []
    for split in SPLITS:
        part = samples[samples["split"].eq(split)]
        patients = part["patient_id"].nunique()
        rows.append(
            [
                split,
                _cell(len(part)),
                _share(len(part), total),
                _cell(patients),
                f"{len(part) / patients:.2f}" if patients else "",
                *[_cell(int(per_split.loc[s, split])) for s in per_split.index],
            ]
        )
    columns = ["Split", "Samples", "Share", "Patients", "Images per patient", *per_split.index]
    return Table(columns, rows, [False] + [True] * (len(columns) - 1))


def balance_table(
    samples: pd.DataFrame, names: dict[str, str], mix_columns: Sequence[str]
) -> Table:
    """Per split over all sources: each label's positive rate among the samples annotated
    for it, then the share of each value of `mix_columns` (the view mix): val and test
    should look like train."""
    labels = label_columns_in(samples.columns)
    balance = split_balance(samples, labels, mix_columns)
    overall = balance[balance["source"].eq("all")].set_index("split")
    shown = [(display_name(c, names), c) for c in labels]
    shown += [(_mix_name(c), c) for c in overall.columns if "=" in c]
    rows = [
        [name, *[_percent(overall.loc[split, column]) for split in SPLITS]]
        for name, column in shown
    ]
    return Table(["Label or value", *SPLITS], rows, [False] + [True] * len(SPLITS))


def _mix_name(column: str) -> str:
    name, _, value = column.partition("=")
    return f"{name.replace('_', ' ').capitalize()}: {value}"


def _percent(value: Any) -> str:
    return "" if value is None or value != value else f"{100 * float(value):.1f} %"


def label_table(samples: pd.DataFrame, names: dict[str, str]) -> Table:
    """Outcome counts per label over all sources, and which sources annotate it."""
    counts = label_counts(samples, names)
    rows = []
    for label, part in counts.groupby("label", sort=False):
        pos, neg, unc, missing = (
            int(part[c].sum()) for c in ("positive", "negative", "uncertain", "not_annotated")
        )
        annotated = part.loc[
            (part[["positive", "negative", "uncertain"]].sum(axis=1) > 0), "source"
        ]
        rows.append(
            [
                label,
                _cell(pos),
                _cell(neg),
                _cell(unc),
                _cell(missing),
                _share(pos, pos + neg + unc),
                ", ".join(annotated) or "none",
            ]
        )
    columns = [
        "Label",
        "Positive",
        "Negative",
        "Uncertain",
        "Not annotated",
        "Prevalence (positive / annotated)",
        "Annotated by",
    ]
    return Table(columns, rows, [False, True, True, True, True, True, False])


def caption_table(samples: pd.DataFrame, names: dict[str, str]) -> Table:
    """Where each source's captions come from, by caption kind (`names`: display name of
    each kind, in the order to show them; other kinds follow by name)."""
    table = (
        pd.crosstab(samples["source"], samples["caption_kind"]) if len(samples) else pd.DataFrame()
    )
    kinds = [k for k in names if k in table.columns] + sorted(set(table.columns) - set(names))
    rows = [[source, *[_cell(int(table.loc[source, k])) for k in kinds]] for source in table.index]
    columns = ["Source", *[names.get(str(k), str(k)) for k in kinds]]
    return Table(columns, rows, [False] + [True] * len(kinds))


def reason_tables(table: pd.DataFrame, examples: int) -> tuple[Table, Table]:
    """Rejects (or corrections: same columns) by reason (rows) and source (columns), and
    the first `examples` rows of each reason as they appear in rejects.csv
    (corrections.csv)."""
    pivot = pd.crosstab(table["reason"], table["source"]) if len(table) else pd.DataFrame()
    rows = [
        [reason, *[_cell(int(v)) for v in counts], _cell(int(counts.sum()))]
        for reason, counts in pivot.iterrows()
    ]
    if len(pivot):
        rows.append(["all reasons", *[_cell(int(v)) for v in pivot.sum()], _cell(len(table))])
    by_reason = Table(
        ["Reason", *pivot.columns, "Total"], rows, [False] + [True] * (len(pivot.columns) + 1)
    )
    picked = table.groupby("reason", sort=True).head(examples) if len(table) else table
    picked = picked.sort_values(["reason", "source"], kind="stable")
    example_rows = [
        [
            f"{r['reason']} ({r['stage']})",
            r["source"],
            _cell(r["sample_id"]),
            _cell(r["file"]),
            _cell(r["row"]),
            _cell(r["detail"]),
        ]
        for r in picked.to_dict("records")
    ]
    columns = ["Reason (stage)", "Source", "Sample", "File", "Row", "Detail"]
    return by_reason, Table(
        columns, example_rows, [False, False, False, False, True], [False, False, True, True]
    )


def thumbnail_table(picked: pd.DataFrame) -> Table:
    rows = [
        [r["sample_id"], r["source"], r["split"], _cell(r["caption"])]
        for r in picked.to_dict("records")
    ]
    return Table(["Sample", "Source", "Split", "Caption"], rows, [], [True])


def source_notes(statistics: dict, infos: dict[str, dict]) -> list[dict]:
    """Licence, redistribution, citation and patient rule of every source in the build."""
    return [
        {
            **infos[name],
            "exported": statistics["sources"][name]["exported"],
            "redistributable_text": _yes_no(infos[name]["redistributable"]),
        }
        for name in sorted(statistics["sources"])
        if name in infos
    ]


def facts(statistics: dict) -> list[tuple[str, str]]:
    """The headline numbers."""
    per_source = statistics["sources"].values()
    contributing = sum(1 for s in per_source if s["exported"])
    return [
        ("samples", str(statistics["exported"])),
        ("source" if contributing == 1 else "sources", str(contributing)),
        ("patients", str(sum(s["patients"] for s in per_source))),
        ("rejected records", str(statistics["rejected"])),
    ]


def image_description(normalize: dict) -> str:
    modes = {"L": "grayscale", "RGB": "RGB"}
    mode = modes.get(str(normalize.get("color_mode")), "")
    per_source = normalize.get("color_mode_per_source") or {}
    for other in sorted(set(per_source.values()) - {normalize.get("color_mode")}):
        names = sorted(s for s, m in per_source.items() if m == other)
        mode += f" ({modes.get(other, other)}: {', '.join(names)})"
    return (
        f"{str(normalize.get('format', '')).upper()} (quality {normalize.get('quality')}), "
        f"{mode}, shorter side at most {normalize.get('image_size')} px; smaller images "
        f"are never upscaled."
    )


def summary_text(
    description: str, statistics: dict, infos: dict[str, dict], unit: str = "image–caption pairs"
) -> str:
    per_source = sorted(statistics["sources"].items())
    kept = [infos.get(s, {}).get("title", s) for s, v in per_source if v["exported"]]
    left_out = [infos.get(s, {}).get("title", s) for s, v in per_source if not v["exported"]]
    splits = statistics["splits"]
    raw = sum(v["raw_records"] for _, v in per_source)
    text = (
        f"{description.strip()} This build holds {statistics['exported']} {unit} "
        f"from {len(kept)} source{'' if len(kept) == 1 else 's'}"
        f"{' (' + ', '.join(kept) + ')' if kept else ''}: "
        f"{splits.get('train', 0)} for training, {splits.get('val', 0)} for validation "
        f"and {splits.get('test', 0)} for testing, split by patient. "
        f"{statistics['rejected']} of {raw} raw records were left out, each with a "
        f"reason (see Rejects)."
    )
    return text + (f" No sample of {', '.join(left_out)} is included." if left_out else "")


def provenance_view(provenance: dict) -> dict:
    """Provenance as display strings; parameters as YAML."""
    git, dvc, runtime = provenance["git"], provenance["dvc"], provenance.get("runtime_params")
    commit = git["commit"] + (" (with uncommitted changes)" if git.get("dirty") else "")
    dvc_text = (
        dvc
        if isinstance(dvc, str)
        else "dvc.lock "
        + ", ".join(f"{stage} sha256 {digest[:16]}" for stage, digest in dvc["stages"].items())
        + (f" (run by dvc repro, stage {dvc['dvc_repro_stage']})" if dvc["dvc_repro_stage"] else "")
    )
    return {
        "command": provenance["command"],
        "commit": commit,
        "dvc": dvc_text,
        "kedro_version": provenance.get("kedro_version") or "unknown",
        "env": provenance.get("env") or "default (base + local)",
        "runtime_params": _yaml(runtime) if runtime else "",
        "parameters": _yaml(provenance.get("parameters") or {}),
    }


def _yaml(data: dict) -> str:
    return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, width=88).strip()


LABELS_INTRO = (
    "Labels follow one union vocabulary: 1 positive, 0 negative, −1 uncertain, empty when "
    "the source does not annotate the finding."
)


def datacard_context(
    *,
    statistics: dict,
    rejects: pd.DataFrame,
    corrections: pd.DataFrame,
    samples: pd.DataFrame,
    picked: pd.DataFrame,
    thumbnails: bytes,
    charts: list[Chart],
    infos: dict[str, dict],
    names: dict[str, str],
    normalize: dict,
    provenance: dict,
    params: dict,
    mix_columns: Sequence[str] = (),
) -> dict:
    """Everything the templates show, as text and tables; `mix_columns`: the columns whose
    value mix per split the balance table shows (the split stage's `balance_columns`)."""
    notes = source_notes(statistics, infos)
    examples_per_reason = int(params["reject_examples"])
    by_reason, examples = reason_tables(rejects, examples_per_reason)
    corrected, correction_examples = reason_tables(corrections, examples_per_reason)
    return {
        "title": params["title"],
        "collection": params["collection"],
        "facts": facts(statistics),
        "summary": summary_text(params["description"], statistics, infos),
        "images": image_description(normalize),
        "sources_table": source_table(statistics, samples, infos),
        "splits_table": split_table(samples),
        "balance_table": balance_table(samples, names, mix_columns),
        "labels_intro": LABELS_INTRO,
        "labels_table": label_table(samples, names),
        # a collection whose samples have no caption (segmentation: class names) has none
        "captions_table": caption_table(samples, params.get("caption_kinds") or {})
        if "caption_kind" in samples
        else None,
        "sources": notes,
        "restricted": [n["title"] for n in notes if not n["redistributable"] and n["exported"]],
        "rejects_table": by_reason,
        "reject_examples": examples,
        "corrections_table": corrected,
        "correction_examples": correction_examples,
        "charts": charts,
        "thumbnails": {
            "file": THUMBNAILS_FILE,
            "table": thumbnail_table(picked),
            "data_uri": "data:image/png;base64," + base64.b64encode(thumbnails).decode(),
        },
        "provenance": provenance_view(provenance),
    }


def _md(value: Any) -> str:
    """Text safe in a Markdown table cell: no pipes, no raw HTML, one line."""
    text = " ".join(str(value).split())
    for char in "\\|<>*[]`":
        text = text.replace(char, "\\" + char)
    return text


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("unimed_kedro.reporting", "templates"),
        autoescape=select_autoescape(["html.j2"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["md"] = _md
    env.filters["inline_svg"] = inline_svg
    return env


def render_html(context: dict) -> str:
    return _environment().get_template("datacard.html.j2").render(**context)


def render_markdown(context: dict) -> str:
    return _environment().get_template("datacard.md.j2").render(**context)
