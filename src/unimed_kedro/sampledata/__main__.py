"""`python -m unimed_kedro.sampledata --out data/01_raw [--seed 0] [--force]`.

Writes the four chest X-ray sample layouts and prints one line per source with the
counts the pipeline should reproduce. Running it again rewrites the same bytes; `--force`
first deletes the four folders, so files left by an older version disappear too.
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m unimed_kedro.sampledata",
        description="Write the chest X-ray sample data (CheXpert-v1.0-small, NIH "
        "ChestX-ray14, MIMIC-CXR-JPG, OpenI) in their official layouts.",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path("data/01_raw"),
        help="raw root to write into (default: data/01_raw)",
    )
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: 0)")
    parser.add_argument(
        "--force",
        action="store_true",
        help=f"delete {', '.join(SOURCE_DIRS.values())} under --out first",
    )
    args = parser.parse_args(argv)
    if args.seed < 0:
        parser.error("--seed must be >= 0")
    real = [
        n
        for n in SOURCE_DIRS.values()
        if (args.out / n).exists() and not (args.out / n / MARKER).exists()
    ]
    if real:
        print(
            f"error: {', '.join(real)} under {args.out} hold data this generator did not "
            f"write (no {MARKER} marker); choose another --out",
            file=sys.stderr,
        )
        return 2
    if args.force:
        for name in SOURCE_DIRS.values():
            shutil.rmtree(args.out / name, ignore_errors=True)
    started = time.perf_counter()
    expectations = generate_cxr(args.out, seed=args.seed)
    for key, exp in expectations.items():
        rejects = ", ".join(f"{reason}={n}" for reason, n in exp["rejects"].items())
        print(
            f"{key:<8} {args.out / SOURCE_DIRS[key]}: {exp['records']} records, "
            f"{exp['patients']} patients, expected rejects {sum(exp['rejects'].values())}"
            f" ({rejects})"
        )
    print(f"done in {time.perf_counter() - started:.1f}s (seed {args.seed})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
