"""`cxr` outputs pinned by digest: a refactor that changes one byte of a shard, an image,
a caption, an index or a report fails here. The digests in `golden/cxr_sample.json` were
recorded from the sample data (seed 0) before the house was reshaped (issue 14); a change
that is meant to alter outputs updates them and says why in its commit (regenerate with
`python -m tests.pipelines.test_cxr_golden`).

Resume markers (`.chunks/`) are left out: they are the engine's state (fingerprints of
inputs), not outputs. The bytes also depend on the machine (the same code and Pillow gave
other resized images on another VM): the comparison runs only where the Pillow version,
the generated raw sample and a Lanczos resize of a fixed film are those the digests were
recorded with; elsewhere it skips, saying which differs.
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import PIL
import pytest
from PIL import Image

from tests.pipelines.conftest import output_digests

GOLDEN = Path(__file__).with_name("golden") / "cxr_sample.json"


def _outputs(digests: dict[str, str]) -> dict[str, str]:
    return {path: value for path, value in digests.items() if "/.chunks/" not in path}


def _platform(raw: Path) -> dict[str, str]:
    """What decides the outputs' bytes besides our code: Pillow's version, the raw sample
    the generator made here, and a Lanczos resize + JPEG encode of a fixed film."""
    raw_files = json.dumps(output_digests(raw, raw), sort_keys=True).encode()
    y, x = np.mgrid[0:1400, 0:1200]
    film = Image.fromarray(((x * 7 + y * 3 + (x * y) % 251) % 256).astype(np.uint8))
    encoded = io.BytesIO()
    film.resize((512, 597), Image.Resampling.LANCZOS).save(encoded, "JPEG", quality=90)
    return {
        "pillow": PIL.__version__,
        "raw": hashlib.sha256(raw_files).hexdigest(),
        "resample": hashlib.sha256(encoded.getvalue()).hexdigest(),
    }


def test_outputs_match_the_pinned_digests(cxr_build):
    golden = json.loads(GOLDEN.read_text())
    here = _platform(cxr_build.raw)
    differ = [key for key, value in golden["platform"].items() if here.get(key) != value]
    if differ:
        pytest.skip(f"digests recorded where {differ} differed ({here}): regenerate them")
    expected, got = _outputs(golden["digests"]), _outputs(cxr_build.digests())
    assert sorted(got) == sorted(expected)
    changed = sorted(path for path in expected if got[path] != expected[path])
    assert not changed, f"{len(changed)} outputs changed, e.g. {changed[:10]}"


if __name__ == "__main__":  # regenerate the digests from the current code
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
    from tests.pipelines.conftest import build

    result = build(Path(tempfile.mkdtemp()))
    record = {"platform": _platform(result.raw), "digests": result.digests()}
    GOLDEN.write_text(json.dumps(record, indent=1, sort_keys=True) + "\n")
    print(f"{GOLDEN}: {len(record['digests'])} files")
