"""`cxr` outputs pinned by digest: a refactor that changes one byte of a shard, an image,
a caption, an index or a report fails here. The digests in `golden/cxr_sample.json` were
recorded from the sample data (seed 0) before the house was reshaped (issue 14); a change
that is meant to alter outputs updates them and says why in its commit (regenerate with
`python -m tests.pipelines.test_cxr_golden`).

Resume markers (`.chunks/`) are left out: they are the engine's state (fingerprints of
inputs), not outputs. The JPEG bytes depend on Pillow's encoder, so the comparison runs
only with the Pillow version the digests were recorded with.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import PIL
import pytest

GOLDEN = Path(__file__).with_name("golden") / "cxr_sample.json"


def _outputs(digests: dict[str, str]) -> dict[str, str]:
    return {path: value for path, value in digests.items() if "/.chunks/" not in path}


def test_outputs_match_the_pinned_digests(cxr_build):
    golden = json.loads(GOLDEN.read_text())
    if golden["pillow"] != PIL.__version__:
        pytest.skip(
            f"digests recorded with Pillow {golden['pillow']}, this is "
            f"{PIL.__version__}: JPEG bytes may differ; regenerate them"
        )
    expected, got = _outputs(golden["digests"]), _outputs(cxr_build.digests())
    assert sorted(got) == sorted(expected)
    changed = sorted(path for path in expected if got[path] != expected[path])
    assert not changed, f"{len(changed)} outputs changed, e.g. {changed[:10]}"


if __name__ == "__main__":  # regenerate the digests from the current code
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.pipelines.conftest import build

    result = build(Path(tempfile.mkdtemp()))
    record = {"pillow": PIL.__version__, "digests": result.digests()}
    GOLDEN.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"{GOLDEN}: {len(record['digests'])} files")
