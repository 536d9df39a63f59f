"""`python -m unimed_kedro.sampledata --out data/01_raw [--collection cxr|satds|unimed|all]
[--seed 0] [--force]`.

Writes a collection's sample layouts (default `cxr`: the four chest X-ray sources; `satds`:
the SAT-DS 3D segmentation folders under `satds/`; `unimed`: the chest X-ray sources and
UniMed's image–text source folders) and prints one line per source or
dataset folder with the counts the pipeline should reproduce. Running it again rewrites
the same bytes; `--force` first deletes the chosen collection's generated folders, so
files left by an older version disappear too.
Every generated folder carries a `.unimed-sample` marker: a folder without it holds real
data, and the generator refuses to write into it or delete it.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from unimed_kedro.sampledata.cxr import MARKER, SOURCE_DIRS, generate_cxr
from unimed_kedro.sampledata.satds import SATDS_DIRS, generate_satds
from unimed_kedro.sampledata.unimed import UNIMED_DIRS, generate_unimed

COLLECTIONS = ("cxr", "satds", "unimed")


def _folders(collection: str) -> dict[str, str]:
    """Key -> generated folder (relative to --out) of one collection."""
    return {"cxr": SOURCE_DIRS, "satds": SATDS_DIRS, "unimed": UNIMED_DIRS}[collection]


def _generate(collection: str, out: Path, seed: int) -> dict[str, dict]:
    # Looked up at call time, so tests can stand in for any generator.
    if collection == "cxr":
        return generate_cxr(out, seed=seed)
    if collection == "unimed":
        return generate_unimed(out, seed=seed)
    return generate_satds(out, seed=seed)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m unimed_kedro.sampledata",
        description="Write sample data in the official layouts: the chest X-ray sources "
        "(CheXpert-v1.0-small, NIH ChestX-ray14, MIMIC-CXR-JPG, OpenI) and/or the SAT-DS "
        "3D segmentation folders (MSD, TotalSegmentator, nnU-Net, pairs).",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/01_raw"),
        help="raw root to write into (default: data/01_raw)",
    )
    parser.add_argument(
        "--collection",
        choices=(*COLLECTIONS, "all"),
        default="cxr",
        help="which collection's sample data to write (default: cxr)",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    parser.add_argument(
        "--force",
        action="store_true",
        help="first delete the chosen collection's generated folders under --out (those "
        f"with a {MARKER} marker)",
    )
    return parser


def _report(collection: str, out: Path, expectations: dict[str, dict]) -> None:
    width = {"cxr": 8, "unimed": 20}.get(collection, 30)
    for key, exp in expectations.items():
        rejects = ", ".join(f"{reason}={n}" for reason, n in exp["rejects"].items())
        skipped = " (skipped: no registry entry, no dataset.json)" if exp.get("skipped") else ""
        print(
            f"{key:<{width}} {out / _folders(collection)[key]}: {exp['records']} records, "
            f"{exp.get('patients', '?')} patients, expected rejects {sum(exp['rejects'].values())}"
            f" ({rejects}){skipped}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    chosen = COLLECTIONS if args.collection == "all" else (args.collection,)
    folders = [name for c in chosen for name in _folders(c).values()]
    real = [n for n in folders if (args.out / n).exists() and not (args.out / n / MARKER).exists()]
    if real:
        print(
            f"error: {', '.join(real)} under {args.out} hold data this generator did not "
            f"write (no {MARKER} marker); choose another --out",
            file=sys.stderr,
        )
        return 2
    if args.force:
        for name in folders:  # every existing one is marked: checked just above
            shutil.rmtree(args.out / name, ignore_errors=True)
    started = time.perf_counter()
    for collection in chosen:
        _report(collection, args.out, _generate(collection, args.out, args.seed))
    print(f"done in {time.perf_counter() - started:.1f}s (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
