"""Provenance every source adapter declares: licence, whether it may be redistributed,
citation, and what stands in for the patient."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass(frozen=True)
class SourceInfo:
    name: str
    title: str
    license: str
    redistributable: bool
    citation: str
    patient_note: str

    def as_dict(self) -> dict:
        return asdict(self)
