"""The volume throughput benchmark runs end to end on a tiny CT (48 x 48 x 20, one round,
every row) and writes its ratios."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "volume_throughput.py"


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("volume_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script adds benchmarks/ to it
    spec.loader.exec_module(module)
    return module


def test_benchmark_writes_its_ratios(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "volume-throughput.json"
    load_script(monkeypatch).main(
        [
            "--shape",
            "48",
            "48",
            "20",
            "--rounds",
            "1",
            "--workdir",
            str(tmp_path),
            "--out",
            str(out),
        ]
    )
    results = json.loads(out.read_text())
    assert results["shape"] == [48, 48, 20]
    assert set(results["methods"]) == {"ours", "sitk-tuned", "naive-seed"}
    ratios = results["ratios"]
    for name in ("ours_over_sitk_tuned", "naive_over_ours", "pool2_over_pool1_speedup"):
        assert ratios[name] > 0, name
    assert results["pool"]["volumes"] == 4
    # ours and the hand-tuned script store the same grid and values
    agreement = results["agreement"]
    assert agreement["shape_ours"] == agreement["shape_sitk_tuned"] == [38, 38, 10]
    assert agreement["max_abs_diff"] < 1e-4


def test_arguments_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    args = load_script(monkeypatch).parse_args(["--shape", "8", "9", "10", "--skip-pool"])
    assert args.shape == [8, 9, 10] and args.skip_pool and not args.skip_naive and args.rounds == 1
