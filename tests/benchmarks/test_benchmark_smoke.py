"""The throughput benchmark runs end to end on a tiny input (12 films, real kedro run; the
Dask and img2dataset rows are skipped: they start a cluster or install a package)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "normalize_throughput.py"


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("normalize_throughput", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    # registered so the generator's Pool can pickle the module's functions
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    return module


def test_benchmark_runs_three_methods(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # no Dask cluster, no img2dataset install: the three base rows only, pillow-best and
    # kedro timed twice in pairs
    load_script(monkeypatch).main(
        [
            "--n",
            "12",
            "--workdir",
            str(tmp_path),
            "--skip-dask",
            "--skip-img2dataset",
            "--rounds",
            "2",
        ]
    )
    results = json.loads((tmp_path / "results-12.json").read_text())
    methods = results["methods"]
    assert set(methods) == {"pillow-best", "naive-seed", "unimed-kedro"}
    assert all(m["images_per_s"] > 0 for m in methods.values())
    assert methods["unimed-kedro"]["exported"] == 12
    assert (tmp_path / "kedro-12.log").is_file()
    kedro = methods["unimed-kedro"]
    assert len(kedro["rounds_ratio"]) == len(methods["pillow-best"]["rounds_images_per_s"]) == 2
    assert round(kedro["ratio_to_pillow_best"], 3) in kedro["rounds_ratio"]
    # PSS divides what forked processes share, so the tree's can only be below its RSS sum
    assert 0 < kedro["peak_pss_mb"] <= kedro["peak_rss_mb"]


def test_skip_flags_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    parse = load_script(monkeypatch).parse_args
    default = parse([])
    assert not (default.skip_kedro or default.skip_dask or default.skip_img2dataset)
    args = parse(["--n", "5", "--skip-dask", "--skip-img2dataset"])
    assert (args.n, args.skip_dask, args.skip_img2dataset, args.skip_kedro) == (
        5,
        True,
        True,
        False,
    )
