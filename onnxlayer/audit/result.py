"""The audit's typed result: one `AuditEntry` per model (and version) audited, the change
against the previous version, the policy verdict, and the run's counts."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

from ..result import json_text

#: Summary fields of the analysis (SPEC §6 names) that an entry carries.
SUMMARY_FIELDS = ("complexity_bits", "intrinsic_power", "intrinsic_power_mean", "input_dim", "params", "macs",
                  "opaque_leaves", "depth", "units")
#: The metrics a version change reports (SPEC §6 names; ΔC, ΔP, ΔP̄, ΔW, ΔMACs).
CHANGE_FIELDS = ("complexity_bits", "intrinsic_power", "intrinsic_power_mean", "params", "macs")
STATUSES = ("ok", "failed", "skipped")
AUDIT_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class VersionChange:
    """What changed from the previous version of the same model (`onnxlayer diff`)."""

    previous: str
    deltas: Mapping[str, float | int | None]
    added_op_types: tuple[str, ...]
    removed_op_types: tuple[str, ...]
    architectural_change: bool
    reasons: tuple[str, ...] = ()

    @property
    def verdict(self) -> str:
        return "architectural change" if self.architectural_change else "no architectural change"

    def to_dict(self) -> dict[str, Any]:
        return {"previous": self.previous, "verdict": self.verdict, "architectural_change": self.architectural_change,
                "deltas": dict(self.deltas), "added_op_types": list(self.added_op_types),
                "removed_op_types": list(self.removed_op_types), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class RuleVerdict:
    """One policy rule on one entry (as `onnxlayer check` reports it)."""

    name: str
    status: str
    measured: str
    limit: str
    detail: str = ""


@dataclass(frozen=True)
class EntryCheck:
    """The policy verdict on one entry: `fail` if an error rule failed, `warn` if only
    warning rules did, else `pass`; `error` (with the reason) when the check could not run."""

    status: str
    rules: tuple[RuleVerdict, ...] = ()
    baseline: str | None = None
    reason: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"status": self.status, "baseline": self.baseline, "reason": self.reason,
                "rules": [vars(r) for r in self.rules]}


@dataclass(frozen=True)
class AuditEntry:
    """One audited model: where it came from, how its analysis ended, and its numbers."""

    source: str
    name: str
    version: str
    location: str
    status: str
    reason: str = ""
    cached: bool = False
    sha256: str | None = None
    content_key: str | None = None
    seconds: float | None = None
    summary: Mapping[str, Any] = field(default_factory=dict)
    change: VersionChange | None = None
    check: EntryCheck | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def failed(self) -> bool:
        """A failed analysis or a failed error-severity rule."""
        return self.status == "failed" or (self.check is not None and self.check.status in ("fail", "error"))

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "name": self.name, "version": self.version, "location": self.location,
                "status": self.status, "reason": self.reason, "cached": self.cached, "sha256": self.sha256,
                "seconds": self.seconds, "summary": dict(self.summary) if self.ok else None,
                "change": None if self.change is None else self.change.to_dict(),
                "check": None if self.check is None else self.check.to_dict()}


@dataclass(frozen=True)
class AuditCounts:
    """Entries served from the store, analysed in this run, failed, and skipped (not ONNX)."""

    cached: int = 0
    analysed: int = 0
    failed: int = 0
    skipped: int = 0

    def line(self) -> str:
        text = f"{self.cached} cached, {self.analysed} analysed, {self.failed} failed"
        return text + (f", {self.skipped} skipped" if self.skipped else "")


@dataclass(frozen=True)
class AuditResult:
    """Everything `onnxlayer audit` reports: entries in source order, counts, and context."""

    entries: tuple[AuditEntry, ...]
    counts: AuditCounts
    store: str
    settings: Mapping[str, Any]
    limits: Mapping[str, Any]
    policy: str | None = None
    tool_version: str = ""

    @property
    def exit_code(self) -> int:
        """0: every entry analysed (or skipped) and compliant; 1: a failed analysis or rule."""
        return 1 if any(e.failed for e in self.entries) else 0

    def to_dict(self) -> dict[str, Any]:
        return {"schema_version": AUDIT_SCHEMA_VERSION, "kind": "audit",
                "tool": {"name": "onnxlayer", "version": self.tool_version},
                "store": self.store, "settings": dict(self.settings), "limits": dict(self.limits),
                "policy": self.policy, "counts": vars(self.counts).copy(),
                "entries": [e.to_dict() for e in self.entries]}

    def to_json(self, indent: int | None = 2) -> str:
        return json_text(self.to_dict(), indent)

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per entry (the table's and the DataFrame's columns)."""
        out = []
        for e in self.entries:
            row: dict[str, Any] = {"source": e.source, "name": e.name, "version": e.version, "location": e.location,
                                   "status": e.status, "reason": e.reason, "cached": e.cached, "sha256": e.sha256}
            row.update({k: e.summary.get(k) if e.ok else None for k in SUMMARY_FIELDS})
            row["check"] = None if e.check is None else e.check.status
            c = e.change
            row["previous_version"] = None if c is None else c.previous
            row["change"] = None if c is None else c.verdict
            row.update({f"delta_{k}": None if c is None else c.deltas.get(k) for k in CHANGE_FIELDS})
            row["added_op_types"] = None if c is None else " ".join(c.added_op_types)
            row["removed_op_types"] = None if c is None else " ".join(c.removed_op_types)
            out.append(row)
        return out

    def to_dataframe(self) -> Any:
        """The rows as a pandas DataFrame (pandas is an optional extra)."""
        try:
            import pandas as pd
        except ImportError as exc:
            from ..errors import SettingsError

            raise SettingsError(f"to_dataframe() needs pandas ({exc}); pip install \"onnxlayer[audit]\"") from None
        return pd.DataFrame(self.rows())
