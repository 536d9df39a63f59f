"""kedro-viz and notebook tests, on one sample build of the `cxr` collection.

`viz_build` is imported by the test modules of tests/viz and tests/notebooks. Pytest makes a
separate fixture of each import, so the build itself is memoised here: one build per test
process, whichever of these modules asks first.
"""

from __future__ import annotations

import pytest

from tests.pipelines.conftest import Build, build

_BUILD: list[Build] = []


@pytest.fixture(scope="session")
def viz_build(tmp_path_factory) -> Build:
    if not _BUILD:
        _BUILD.append(build(tmp_path_factory.mktemp("cxr-viz")))
    return _BUILD[0]
