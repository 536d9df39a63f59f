"""Deterministic raw sample data in the official dataset layouts, for the Quickstart and
the tests (`python -m unimed_kedro.sampledata --out data/01_raw [--collection satds]`)."""

from unimed_kedro.sampledata.cxr import generate_cxr
from unimed_kedro.sampledata.satds import generate_satds
from unimed_kedro.sampledata.unimed import generate_unimed

__all__ = ["generate_cxr", "generate_satds", "generate_unimed"]
