"""The throughput benchmark runs end to end on a tiny input (12 films, real kedro run)."""

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
    load_script(monkeypatch).main(["--n", "12", "--workdir", str(tmp_path)])
    results = json.loads((tmp_path / "results-12.json").read_text())
    methods = results["methods"]
    assert set(methods) == {"pillow-best", "naive-seed", "unimed-kedro"}
    assert all(m["images_per_s"] > 0 for m in methods.values())
    assert methods["unimed-kedro"]["exported"] == 12
    assert (tmp_path / "kedro-12.log").is_file()
