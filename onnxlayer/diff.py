"""Compare two analyses: summary deltas, leaves aligned by scope and op type, and a verdict.

The verdict says whether the *architecture* changed, as the metrics see it: the numbers that
SPEC §4 promises to keep across exporters and runtime optimizations (C, P, P̄, D0, W, MACs)
and the inventory of nonlinear units (how many units of each piece count). Leaf names, node
counts, op types and how ops are fused may all differ between two files of one network (an
optimized or quantized model renames and fuses nodes), so they are reported, never judged.
"""
from __future__ import annotations

import json
import math
import os
from collections import Counter
from dataclasses import dataclass
from difflib import SequenceMatcher
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

from .errors import ModelLoadError, SettingsError
from .result import SCHEMA_VERSION, AnalysisResult, Bottleneck, GroupResult, LeafResult, ModelInfo, Summary

#: Two numbers are equal when they agree to this relative tolerance (or both are ~0).
REL_TOL = 1e-9
ABS_TOL = 1e-12


@dataclass(frozen=True)
class Metric:
    """A summary field compared by `diff`: its SPEC §6 key, its symbol, how to read it."""

    key: str
    symbol: str
    value: Callable[[Summary], float | int | None]
    architectural: bool


METRICS: tuple[Metric, ...] = (
    Metric("complexity_bits", "C", lambda s: s.complexity_bits, True),
    Metric("intrinsic_power", "P", lambda s: s.intrinsic_power, True),
    Metric("intrinsic_power_mean", "P̄", lambda s: s.intrinsic_power_mean, True),
    Metric("input_dim", "D0", lambda s: s.input_dim, True),
    Metric("params", "W", lambda s: s.params, True),
    Metric("macs", "MACs", lambda s: s.macs, True),
    Metric("output_dim", "out", lambda s: s.output_dim, False),
    Metric("depth", "L", lambda s: s.depth, False),
    Metric("units", "U", lambda s: s.units, False),
    Metric("bottleneck_dim", "bottleneck d", lambda s: None if s.bottleneck is None else s.bottleneck.dim, False),
    Metric("opaque_leaves", "opaque", lambda s: s.opaque_leaves, False),
    Metric("leaves", "leaves", lambda s: s.leaves, False),
)

#: Leaf fields compared between aligned leaves (names and scopes are not: renames are no change).
LEAF_FIELDS = ("op_type", "domain", "kind", "d_in", "d_out", "rank_cap", "groups", "params", "macs", "complexity_bits")


def same(a: float | int | None, b: float | int | None) -> bool:
    """Equal within REL_TOL (exact for integers; None only equals None)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, int) and isinstance(b, int):
        return a == b
    return math.isclose(a, b, rel_tol=REL_TOL, abs_tol=ABS_TOL)


@dataclass(frozen=True)
class MetricDelta:
    """One summary field in both models."""

    key: str
    symbol: str
    old: float | int | None
    new: float | int | None
    architectural: bool

    @property
    def equal(self) -> bool:
        return same(self.old, self.new)

    @property
    def delta(self) -> float | int | None:
        return None if self.old is None or self.new is None else self.new - self.old

    @property
    def relative(self) -> float | None:
        """Change relative to |old| (None when old is 0 or missing)."""
        d = self.delta
        return None if d is None or not self.old else d / abs(self.old)


@dataclass(frozen=True)
class LeafChange:
    """An aligned pair of leaves: `same`, `changed` (fields differ), `added` or `removed`."""

    status: str
    old: LeafResult | None
    new: LeafResult | None
    fields: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelDiff:
    """What differs between an old and a new analysis, and whether the architecture changed."""

    old_label: str
    new_label: str
    metrics: tuple[MetricDelta, ...]
    leaves: tuple[LeafChange, ...]
    added_op_types: tuple[str, ...]
    removed_op_types: tuple[str, ...]
    old_units: tuple[tuple[int, int], ...]
    new_units: tuple[tuple[int, int], ...]
    reasons: tuple[str, ...]
    warnings: tuple[str, ...] = ()

    @property
    def architectural_change(self) -> bool:
        return bool(self.reasons)

    @property
    def verdict(self) -> str:
        return "architectural change" if self.reasons else "no architectural change"

    def metric(self, key: str) -> MetricDelta:
        for m in self.metrics:
            if m.key == key:
                return m
        raise KeyError(f"no metric {key!r}; metrics: {', '.join(m.key for m in self.metrics)}")

    def count(self, status: str) -> int:
        return sum(1 for c in self.leaves if c.status == status)


def op_label(domain: str, op_type: str) -> str:
    """`op_type` for the default domain, `domain::op_type` otherwise."""
    return op_type if domain in ("", "ai.onnx") else f"{domain}::{op_type}"


def unit_inventory(result: AnalysisResult) -> tuple[tuple[int, int], ...]:
    """(pieces, units) over the leaves that reach an output, by piece count.

    Fusion may regroup units into fewer or more leaves; this inventory does not see that.
    """
    counts: Counter[int] = Counter()
    for leaf in result.leaves:
        if leaf.reaches_output:
            for g in leaf.groups:
                counts[g.pieces] += g.units
    return tuple(sorted(counts.items()))


def diff(old: AnalysisResult, new: AnalysisResult, old_label: str | None = None,
         new_label: str | None = None) -> ModelDiff:
    """Compare two analyses (see the module docstring for what counts as architectural)."""
    metrics = tuple(MetricDelta(m.key, m.symbol, m.value(old.summary), m.value(new.summary), m.architectural)
                    for m in METRICS)
    reasons = [f"{m.symbol} {_show(m.old)} → {_show(m.new)}" for m in metrics if m.architectural and not m.equal]
    old_units, new_units = unit_inventory(old), unit_inventory(new)
    if old_units != new_units:
        reasons.append("nonlinear units differ: " + _inventory_delta(old_units, new_units))
    old_ops = {op_label(l.domain, l.op_type) for l in old.leaves}
    new_ops = {op_label(l.domain, l.op_type) for l in new.leaves}
    warnings = []
    if not all(same(old.settings.get(k), new.settings.get(k)) for k in ("tolerance", "domain")):
        warnings.append(f"the analyses used different settings ({_settings(old)} vs {_settings(new)}): "
                        "piece counts and C are not comparable")
    return ModelDiff(
        old_label=old_label or _label(old),
        new_label=new_label or _label(new),
        metrics=metrics,
        leaves=tuple(align(old.leaves, new.leaves)),
        added_op_types=tuple(sorted(new_ops - old_ops)),
        removed_op_types=tuple(sorted(old_ops - new_ops)),
        old_units=old_units,
        new_units=new_units,
        reasons=tuple(reasons),
        warnings=tuple(warnings),
    )


def align(old: Sequence[LeafResult], new: Sequence[LeafResult]) -> list[LeafChange]:
    """Pair leaves in topological order: first by (scope, domain, op type), then, inside the
    stretches that did not match (renamed nodes), by (domain, op type) alone."""
    out: list[LeafChange] = []
    for tag, a, b in _opcodes(old, new, lambda l: (l.scope, l.domain, l.op_type)):
        if tag == "equal":
            out += (_pair(x, y) for x, y in zip(a, b))
            continue
        for tag2, a2, b2 in _opcodes(a, b, lambda l: (l.domain, l.op_type)):
            if tag2 == "equal" or (tag2 == "replace" and len(a2) == len(b2)):
                out += (_pair(x, y) for x, y in zip(a2, b2))
            else:
                out += (LeafChange("removed", x, None) for x in a2)
                out += (LeafChange("added", None, y) for y in b2)
    return out


def _opcodes(a: Sequence[LeafResult], b: Sequence[LeafResult], key: Callable[[LeafResult], tuple]):
    # autojunk off: repeated blocks (every Conv of a ResNet) are the common case, not junk
    matcher = SequenceMatcher(None, [key(x) for x in a], [key(y) for y in b], autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        yield tag, a[i1:i2], b[j1:j2]


def _pair(old: LeafResult, new: LeafResult) -> LeafChange:
    changed = tuple(f for f in LEAF_FIELDS if not _field_same(getattr(old, f), getattr(new, f)))
    return LeafChange("changed" if changed else "same", old, new, changed)


def _field_same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return same(a, b)
    return a == b


def _inventory_delta(old: Sequence[tuple[int, int]], new: Sequence[tuple[int, int]]) -> str:
    a, b = dict(old), dict(new)
    parts = []
    for pieces in sorted(set(a) | set(b)):
        if a.get(pieces, 0) != b.get(pieces, 0):
            parts.append(f"{a.get(pieces, 0)} → {b.get(pieces, 0)} units of {pieces} pieces")
    return ", ".join(parts)


def _show(x: float | int | None) -> str:
    if x is None:
        return "none"
    return f"{x:,}" if isinstance(x, int) else f"{x:.10g}"


def _settings(r: AnalysisResult) -> str:
    return f"ε = {r.settings.get('tolerance')}, B = {r.settings.get('domain')}"


def _label(r: AnalysisResult) -> str:
    return r.model.path or r.model.graph_name or "(in memory)"


# ------------------------------------------------------------------------------ sources


def result_from_dict(data: Mapping[str, Any], label: str = "JSON result") -> AnalysisResult:
    """Rebuild an AnalysisResult from its `--format json` form (schema 1)."""
    try:
        if data.get("schema_version") != SCHEMA_VERSION:
            raise SettingsError(f"{label}: not an onnxlayer analysis (schema_version {data.get('schema_version')!r}, "
                                f"expected {SCHEMA_VERSION})")
        s = data["summary"]
        b = s.get("bottleneck")
        summary = Summary(
            complexity_bits=s["complexity_bits"], complexity_log10_regions=s["complexity_log10_regions"],
            intrinsic_power=s["intrinsic_power"], intrinsic_power_mean=s["intrinsic_power_mean"],
            input_dim=s["input_dim"], output_dim=s["output_dim"], depth=s["depth"], units=s["units"],
            params=s["params"], macs=s["macs"],
            bottleneck=None if b is None else Bottleneck(b["dim"], b.get("leaf"), b.get("tensor", "")),
            vc_bound=s.get("vc_bound"), vc_bound_reason=s.get("vc_bound_reason") or "",
            opaque_leaves=s["opaque_leaves"], leaves=s.get("leaves", len(data["leaves"])),
            nonlinear_leaves=s.get("nonlinear_leaves", 0),
            profile=tuple((p["depth"], p["log2_d_in"]) for p in s.get("profile", ())),
        )
        leaves = []
        for item in data["leaves"]:
            fields = dict(item)
            fields["groups"] = tuple(GroupResult(g["units"], g["pieces"]) for g in item["groups"])
            fields["fused"] = tuple(item.get("fused", ()))
            leaves.append(LeafResult(**fields))
        return AnalysisResult(
            model=ModelInfo(**data["model"]),
            settings=dict(data["settings"]),
            summary=summary,
            leaves=tuple(leaves),
            warnings=tuple(data.get("warnings", ())),
            tool_version=data.get("tool", {}).get("version", ""),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise SettingsError(f"{label}: not a complete onnxlayer analysis JSON ({type(exc).__name__}: {exc})") from None


def read_result(path: str | os.PathLike) -> AnalysisResult:
    """An analysis saved by `onnxlayer analyze --format json`."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelLoadError(f"{path}: cannot read ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelLoadError(f"{path}: not a JSON analysis ({exc})") from None
    if not isinstance(data, dict):
        raise ModelLoadError(f"{path}: not a JSON analysis (top level is not an object)")
    return result_from_dict(data, str(path))


def is_result_file(source: Any) -> bool:
    """A path to a saved JSON analysis (rather than a model)."""
    return isinstance(source, (str, os.PathLike)) and Path(source).suffix.lower() == ".json"
