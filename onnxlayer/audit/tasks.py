"""What travels between the audit's coordinator and its workers: the analysis settings, the
limits, one task per model content, and its outcome. All plain JSON, so the same records
cross a pipe to a local worker and a Dask cluster alike.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any, Mapping, Sequence

from ..transfer import Settings
from ..version import __version__

#: Failure reasons (the first word of `Outcome.reason`).
TIMEOUT, MEMORY, CRASH, BAD_INPUT = "timeout", "memory", "crash", "bad-input"
#: Failures that depend on the limits rather than on the model alone: retried under larger limits.
LIMIT_REASONS = (TIMEOUT, MEMORY)
#: Defaults of `--timeout` (seconds) and `--max-memory` (GiB of address space per analysis).
DEFAULT_TIMEOUT = 600.0
DEFAULT_MAX_MEMORY_GIB = 8.0
GIB = 1 << 30
#: Where analyses run (`--executor`): local worker processes, or a Dask cluster.
EXECUTORS = ("local", "dask")


@dataclass(frozen=True)
class AnalysisSettings:
    """The settings an analysis depends on; part of the content key."""

    tolerance: float = Settings.tolerance
    domain: float = Settings.domain
    input_shapes: tuple[tuple[str, tuple[int, ...]], ...] = ()

    @staticmethod
    def make(tolerance: float, domain: float, input_shapes: Mapping[str, Sequence[int]] | None) -> "AnalysisSettings":
        shapes = tuple(sorted((str(k), tuple(int(d) for d in v)) for k, v in (input_shapes or {}).items()))
        return AnalysisSettings(float(tolerance), float(domain), shapes)

    def with_shapes(self, input_shapes: Mapping[str, Sequence[int]] | None) -> "AnalysisSettings":
        """These settings with per-entry input shapes laid over the global ones."""
        if not input_shapes:
            return self
        merged = dict(self.input_shapes)
        merged.update(input_shapes)
        return AnalysisSettings.make(self.tolerance, self.domain, merged)

    def canonical(self) -> str:
        """The settings as canonical JSON (what the store records and the key hashes)."""
        return json.dumps({"tolerance": self.tolerance, "domain": self.domain,
                           "input_shapes": {k: list(v) for k, v in self.input_shapes}}, sort_keys=True)


def content_key(model_sha256: str, settings: AnalysisSettings, tool_version: str = __version__) -> str:
    """The store's key of one analysis: the model's bytes, the settings and the tool version."""
    text = json.dumps({"model": model_sha256, "settings": settings.canonical(), "tool": tool_version}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Limits:
    """Per-analysis limits: wall time in seconds and address space in bytes (None: no limit)."""

    timeout: float | None = DEFAULT_TIMEOUT
    max_memory: int | None = int(DEFAULT_MAX_MEMORY_GIB * GIB)

    @staticmethod
    def make(timeout: float | None, max_memory_gib: float | None) -> "Limits":
        return Limits(None if timeout is None else float(timeout),
                      None if max_memory_gib is None else int(float(max_memory_gib) * GIB))

    def covers(self, other: "Limits", reason: str) -> bool:
        """Whether a failure for `reason` under `other` would recur under these limits."""
        kind = reason.split(":")[0]
        if kind == TIMEOUT:
            return _at_most(self.timeout, other.timeout)
        if kind == MEMORY:
            return _at_most(self.max_memory, other.max_memory)
        return True


def _at_most(a: float | None, b: float | None) -> bool:
    """a ≤ b, where None is no limit (infinite)."""
    return b is None or (a is not None and a <= b)


@dataclass(frozen=True)
class CheckSpec:
    """Check a model against a policy (its TOML text travels with the task), with the previous
    version's analysis (schema-1 JSON) and file size as the baseline, or why there is none."""

    policy_text: str
    policy_path: str
    baseline_label: str | None = None
    baseline_json: str | None = field(default=None, repr=False)
    baseline_file_size: int | None = None
    baseline_missing: str = ""


@dataclass(frozen=True)
class Task:
    """Analyse the model at `path` (a file or SavedModel directory where the worker runs);
    `label` is recorded as the result's model path. With `check`, the task checks the model
    against a policy instead, and its result is the verdict."""

    key: str
    path: str
    label: str
    settings: AnalysisSettings
    limits: Limits
    check: CheckSpec | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "Task":
        s = data["settings"]
        settings = AnalysisSettings(s["tolerance"], s["domain"], tuple((k, tuple(v)) for k, v in s["input_shapes"]))
        check = None if data.get("check") is None else CheckSpec(**data["check"])
        return Task(data["key"], data["path"], data["label"], settings, Limits(**data["limits"]), check)


@dataclass(frozen=True)
class Outcome:
    """How one analysis ended: `ok` with the schema-1 JSON of its result, or `failed` with a
    reason (`timeout`, `memory`, `crash: …`, `bad-input: …`)."""

    key: str
    status: str
    reason: str = ""
    result_json: str | None = field(default=None, repr=False)
    seconds: float = 0.0
    #: the worker, not the model, failed (it died, the cluster lost the task): not stored, retried next run
    transient: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(data: Mapping[str, Any]) -> "Outcome":
        return Outcome(**data)

    @staticmethod
    def failure(key: str, reason: str, seconds: float = 0.0, transient: bool = False) -> "Outcome":
        return Outcome(key, "failed", reason, None, seconds, transient)
