"""notebooks/cxr_explore.ipynb runs top to bottom on a sample build of `cxr`, executed
with nbclient in a kernel of this environment, from the `notebooks/` folder of the build's
project copy (where `%load_ext kedro.ipython` finds the project)."""

from __future__ import annotations

import json
import re
import shutil
import sys

import nbformat
import pytest
from jupyter_client.kernelspec import KernelSpecManager
from jupyter_client.manager import KernelManager
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

from tests.conftest import PROJECT
from tests.viz import viz_build  # noqa: F401  (the shared sample build)

NOTEBOOK = PROJECT / "notebooks" / "cxr_explore.ipynb"
pytestmark = pytest.mark.xdist_group("cxr-viz")  # one build per worker under --dist loadgroup
ANSI = re.compile(r"\x1b\[[0-9;]*m|\x1b\]8;[^\x1b]*\x1b\\")


def text(output) -> str:
    """What an output shows as text (Kedro's rich tracebacks arrive as display data)."""
    body = output.get("text") or output.get("data", {}).get("text/plain", "")
    if output.get("output_type") == "error":
        body = "\n".join(output.get("traceback", []))
    return ANSI.sub("", "".join(body) if isinstance(body, list) else body)


def cell_with(notebook, snippet: str):
    return next(c for c in notebook.cells if c.cell_type == "code" and snippet in c.source)


def test_committed_notebook_is_clean():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert code and not any(c.outputs or c.execution_count for c in code), \
        "commit the notebook without outputs"
    assert code[0].source.strip() == "%load_ext kedro.ipython"


def test_notebook_runs_top_to_bottom(viz_build, tmp_path):  # noqa: F811
    folder = viz_build.project / "notebooks"
    folder.mkdir(exist_ok=True)
    shutil.copy(NOTEBOOK, folder / NOTEBOOK.name)
    notebook = nbformat.read(folder / NOTEBOOK.name, as_version=4)

    # A kernel of this interpreter, whatever kernels the machine has installed
    spec = tmp_path / "kernels" / "unimed-kedro"
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "unimed-kedro tests", "language": "python",
        "env": {"DO_NOT_TRACK": "1", "KEDRO_DISABLE_TELEMETRY": "1",
                "DVC_NO_ANALYTICS": "1"}}))
    manager = KernelManager(kernel_name="unimed-kedro", kernel_spec_manager=KernelSpecManager(
        kernel_dirs=[str(spec.parent)], ensure_native_kernel=False))
    client = NotebookClient(notebook, km=manager, timeout=600, allow_errors=False,
                            resources={"metadata": {"path": str(folder)}})
    try:
        client.execute()
    except CellExecutionError as error:
        failed = next((c for c in notebook.cells if c.cell_type == "code" and any(
            "Traceback" in text(o) or o.get("output_type") == "error" for o in c.outputs)),
            None)
        shown = "\n".join(text(o) for o in failed.outputs) if failed else ""
        pytest.fail(f"{error}\n{shown[-4000:]}")

    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code), "a cell did not run"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    for snippet in ("ax.imshow", "plot.barh"):
        outputs = cell_with(notebook, snippet).outputs
        assert any("image/png" in o.get("data", {}) for o in outputs), \
            f"the cell with {snippet} drew no image"
    shards = "".join(text(o) for o in cell_with(notebook, '"cxr.webdataset"').outputs)
    assert all(f"'{split}'" in shards for split in ("train", "val", "test")), shards
    picked = "".join(text(o) for o in cell_with(notebook, "wds.WebDataset").outputs)
    assert "['chexpert', 'mimic', 'nih', 'openi']" in picked, picked
