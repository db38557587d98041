"""The records of what an audit audits: one `SourceEntry` per model (and version), with the
`Origin` that fetches its bytes, and `Unavailable` when there are none to analyse."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol


class Origin(Protocol):
    """Where an entry's model comes from."""

    def fingerprint(self) -> str:
        """A cheap identity that changes when the model's bytes may have changed."""

    def fetch(self, workdir: Path) -> Path:
        """A local file or SavedModel directory holding the model (may download into `workdir`)."""


class Unavailable(Exception):
    """The entry has no model to analyse: `status` is `skipped` (e.g. not an ONNX model
    version) or `failed` (e.g. the download failed), with a one-line reason."""

    def __init__(self, status: str, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


@dataclass(frozen=True)
class SourceEntry:
    """One model to audit: (source, name, version) is its identity in the store. Entries with
    a version are compared with the previous version of the same (source, name)."""

    source: str
    name: str
    version: str
    location: str
    origin: Origin = field(compare=False, repr=False)
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()
