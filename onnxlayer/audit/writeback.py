"""`--write-back`: the audit's numbers as tags on each MLflow model version, so the registry's
UI shows them beside the version."""
from __future__ import annotations

from typing import Sequence

from .entries import SourceEntry
from .mlflow_registry import TAG_PREFIX, registry_entries
from .result import AuditEntry, AuditResult

#: Tag name (after `onnxlayer.`) → summary field (SPEC §6 names).
SUMMARY_TAGS = {"complexity_bits": "complexity_bits", "intrinsic_power": "intrinsic_power",
                "params": "params", "macs": "macs", "opaque_leaves": "opaque_leaves"}


def version_tags(entry: AuditEntry, tool_version: str) -> dict[str, str]:
    """The tags of one audited model version (numbers exact: ints as digits, floats round-trip)."""
    tags = {f"{TAG_PREFIX}version": tool_version,
            f"{TAG_PREFIX}status": entry.status + (f": {entry.reason}" if entry.reason else "")}
    if entry.ok:
        for tag, key in SUMMARY_TAGS.items():
            value = entry.summary.get(key)
            tags[f"{TAG_PREFIX}{tag}"] = "none" if value is None else repr(value)
    if entry.check is not None:
        tags[f"{TAG_PREFIX}check"] = entry.check.status
    return tags


def write_back(entries: Sequence[SourceEntry], result: AuditResult) -> int:
    """Tag every audited MLflow model version; returns how many versions were tagged."""
    audited = {(e.source, e.name, e.version): e for e in result.entries}
    count = 0
    for entry, origin in registry_entries(entries):
        done = audited[(entry.source, entry.name, entry.version)]
        if done.status == "skipped":
            continue
        origin.registry.write_tags(origin.name, origin.version, version_tags(done, result.tool_version))
        count += 1
    return count
