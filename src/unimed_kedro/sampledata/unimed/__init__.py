"""UniMed's sample raw data: the four chest X-ray sources (`sampledata.cxr`) and one
writer per image–text source folder, each in its official layout with its quirks, a few
bad records and images shared across sources (PMC-OA, ROCOv2 and LLaVA-Med)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from unimed_kedro.sampledata.cxr import SOURCE_DIRS, generate_cxr
from unimed_kedro.sampledata.unimed import llava_med, pmc_oa, quilt, radimagenet, retina, rocov2
from unimed_kedro.sources.registry import entry

# writer -> the sources its folder holds (LLaVA-Med's two share `llava_med/`)
WRITERS = {
    radimagenet.write: ["radimagenet"],
    retina.write: ["retina"],
    quilt.write: ["quilt_1m"],
    pmc_oa.write: ["pmc_oa"],
    rocov2.write: ["rocov2"],
    llava_med.write: ["llava_med_alignment", "llava_med_instruct"],
}
UNIMED_DIRS = {
    **SOURCE_DIRS,
    **{name: entry(name).folder for names in WRITERS.values() for name in names},
}


def generate_unimed(out: Path, seed: int = 0) -> dict[str, dict]:
    """Write every UniMed source folder under `out`; expectations per source name (the
    chest sources' as `generate_cxr` gives them)."""
    expectations = generate_cxr(out, seed=seed)
    for index, (write, names) in enumerate(WRITERS.items()):
        found = write(out, np.random.default_rng([seed, index]))
        expectations.update({names[0]: found} if "records" in found else found)
    return expectations
