"""The unimed throughput benchmark runs end to end at a tiny size (the sample data plus a few
dozen replicas, one round, a real kedro run; small synthetic Quilt and LLaVA-Med indexes)
and writes its ratio, wall times and the readers' peak memory."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "unimed_throughput.py"


def load_script(monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    spec = importlib.util.spec_from_file_location("unimed_throughput", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    # registered so the generator's Pool can pickle the module's functions
    monkeypatch.setitem(sys.modules, spec.name, module)
    monkeypatch.setattr(sys, "path", list(sys.path))  # the script adds benchmarks/ to it
    spec.loader.exec_module(module)
    return module


def test_benchmark_writes_its_ratio(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "unimed-throughput.json"
    load_script(monkeypatch).main(
        [
            "--n",
            "270",
            "--rounds",
            "1",
            "--workdir",
            str(tmp_path),
            "--out",
            str(out),
            "--quilt-rows",
            "1500",
            "--llava-entries",
            "800",
        ]
    )
    results = json.loads(out.read_text())
    assert results["images"] == 270 and set(results["colour_modes"]) == {"L", "RGB"}
    assert results["sizes"] == results["raw"]["sizes"] == "real"
    assert results["raw"]["replica_sizes"]["retina"] == [2048, 1536]
    replicas = results["raw"]["replicas"]
    assert sum(replicas.values()) == 270 - results["raw"]["sample_images"] > 0
    methods = results["methods"]
    assert set(methods) == {"pillow-best", "unimed-kedro"}
    kedro = methods["unimed-kedro"]
    assert results["ratio_to_pillow_best"] == kedro["ratio_to_pillow_best"] > 0
    assert kedro["rounds_ratio"] == [round(kedro["ratio_to_pillow_best"], 3)]
    assert all(m["images"] == 270 and m["wall_s"] > 0 for m in methods.values())
    assert kedro["normalize_node_ratio"] > 0 and "unimed.write_webdataset" in kedro["node_s"]
    assert 0 < kedro["exported"] < 270  # held-out, duplicate and rejected images are not
    assert (tmp_path / "kedro-270.log").is_file() and (tmp_path / "raw-270-real").is_dir()
    quilt, llava = (
        results["ingest_memory"]["quilt_1m"],
        results["ingest_memory"]["llava_med_alignment"],
    )
    # an image whose every caption is empty (0.2% of the rows) is a no_caption reject
    no_caption = quilt["rejects"].get("no_caption", 0)
    assert quilt["records"] + no_caption == quilt["images"] == round(1500 * 0.65)
    assert llava["records"] == llava["images"] == 792
    for read in (quilt, llava):
        assert read["peak_rss_mb"] >= read["rss_before_read_mb"] > 0
        assert "missing_file" not in read["rejects"]


def test_arguments_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    parse = load_script(monkeypatch).parse_args
    default = parse([])
    assert (default.n, default.rounds, default.quilt_rows, default.llava_entries) == (
        3000,
        1,
        1_000_000,
        500_000,
    )
    assert default.sizes == "real"
    args = parse(["--n", "50", "--quilt-rows", "0", "--llava-entries", "0", "--sizes", "sample"])
    assert (args.n, args.quilt_rows, args.llava_entries, args.sizes) == (50, 0, 0, "sample")


def test_real_sizes_keep_the_template(monkeypatch: pytest.MonkeyPatch) -> None:
    """A replica at a real size is its template resized and cropped (orientation kept,
    a square template takes the size as is); no size keeps the template's."""
    from PIL import Image

    fitted = load_script(monkeypatch).fitted
    portrait, square = Image.new("L", (288, 352)), Image.new("RGB", (224, 224))
    assert fitted(portrait, (800, 640)).size == (640, 800)
    assert fitted(square, (1280, 720)).size == (1280, 720)
    assert fitted(portrait, None) is portrait
