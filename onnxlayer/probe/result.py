"""The probe's typed result and its table, JSON and CSV forms.

JSON field names are stable (tools parse them; add fields, never rename): `summary`
{`lines`, `points`, `span`, `regions_per_line`, `region_bound_bits`, `provider`, `seed`, ...}
and `leaves` [{`name`, `op_type`, `transitions`, `effective_dim`, `rank`,
`inactive_fraction`, `dead_units`, ...}].
"""
from __future__ import annotations

import csv
import io
import json
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from .stats import GroupStats

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class ProbeLeaf:
    name: str
    op_type: str
    kind: str
    exact: bool
    units: int
    complexity_bits: float  # the static bound c(n) of the leaf
    d_in: int
    effective_dim: int  # d_out of the walk (SPEC §3)
    rank_cap: int
    reaches_output: bool
    probed: bool  # a pattern rule measured the leaf's units
    transitions: int | None  # pattern changes over all lines
    transitions_estimated: int | None  # of which counted on intervals left open (estimates)
    transitions_per_unit_length: float | None
    local_regions: int | None  # most pieces the leaf cut a segment into while its ancestors held
    local_region_bits: float | None
    rank: int | None  # largest probed Jacobian rank of the leaf's (first) data output
    rank_min: int | None
    inactive_fraction: float | None
    dead_units: int | None
    frozen_units: int | None
    groups: tuple[GroupStats, ...] = ()
    note: str = ""


@dataclass(frozen=True)
class ProbeSummary:
    lines: int
    points: int
    span: float
    origin: str
    input_scale: float
    seed: int
    provider: str
    input_dim: int
    regions_per_line: float  # mean over lines of 1 + transitions
    regions_max: int
    region_bits_max: float  # log2(regions_max): compare with region_bound_bits
    region_bound_bits: float  # the walk's C
    transitions: int
    transitions_per_unit_length: float
    resolution: float  # bisection stops below this |Δt| (absolute)
    resolution_relative: float  # ... as a fraction of T
    refine_budget: int  # bisection evaluations allowed per line
    evaluations: int
    unresolved_intervals: int  # intervals left open when the budget ran out (their counts are estimates)
    exact: bool  # every transition resolved, every nonlinear leaf probed and exactly PWL
    directions: int
    rank_points: int
    rank_tolerance: float
    rank_step: float
    rank_inexact_columns: int
    batch_size: int
    random_weights: str | None
    weights_drawn: int
    samples: int  # samples behind the activation statistics
    samples_source: str  # "lines" (the probe's points) or "inputs" (--inputs)
    unprobed_leaves: int
    seconds: float


@dataclass(frozen=True)
class ProbeResult:
    model: str | None
    summary: ProbeSummary
    leaves: tuple[ProbeLeaf, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    tool_version: str = ""

    def leaf(self, name: str) -> ProbeLeaf:
        for leaf in self.leaves:
            if leaf.name == name:
                return leaf
        raise KeyError(f"no leaf named {name!r}")

    def to_dict(self) -> dict[str, Any]:
        leaves = []
        for leaf in self.leaves:
            item = asdict(leaf)
            item["groups"] = [
                {**asdict(g), "piece_fractions": None if g.piece_fractions is None else list(g.piece_fractions)}
                for g in leaf.groups
            ]
            leaves.append(item)
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "onnxlayer", "version": self.tool_version},
            "model": {"path": self.model},
            "summary": _finite(asdict(self.summary)),
            "leaves": [_finite(x) for x in leaves],
            "warnings": list(self.warnings),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, ensure_ascii=False, allow_nan=False)

    def render(self, fmt: str = "table") -> str:
        if fmt == "json":
            return self.to_json() + "\n"
        if fmt == "csv":
            return self.to_csv()
        if fmt == "table":
            return self.to_table()
        raise ValueError(f"unknown format {fmt!r}")

    # --------------------------------------------------------------- csv
    CSV_FIELDS = ("name", "op_type", "kind", "units", "complexity_bits", "transitions", "transitions_estimated",
                  "transitions_per_unit_length", "local_regions", "local_region_bits", "effective_dim", "rank",
                  "rank_min", "inactive_fraction", "dead_units", "frozen_units", "note")

    def to_csv(self) -> str:
        out = io.StringIO()
        w = csv.writer(out, lineterminator="\n")
        w.writerow(self.CSV_FIELDS)
        for leaf in self.leaves:
            w.writerow(["" if getattr(leaf, f) is None else getattr(leaf, f) for f in self.CSV_FIELDS])
        return out.getvalue()

    # --------------------------------------------------------------- table
    def to_table(self) -> str:
        s = self.summary
        lines = [
            f"probe: {self.model or 'model'}",
            f"  {s.lines} lines × {s.points} points, t ∈ [−{s.span:.4g}, {s.span:.4g}] ({s.origin} origin, σ = {s.input_scale:g}),"
            f" seed {s.seed}, provider {s.provider}, batch {s.batch_size}",
            f"  bisection to |Δt| < {s.resolution:.3g} ({s.resolution_relative:g}·T), budget {s.refine_budget} evaluations/line,"
            f" {s.evaluations} evaluations, {s.unresolved_intervals} interval(s) left open",
            f"  regions per line: mean {s.regions_per_line:.1f}, max {s.regions_max} (log2 {s.region_bits_max:.2f} bits)"
            f"  ≤  bound {s.region_bound_bits:.2f} bits",
            f"  transitions: {s.transitions} ({s.transitions_per_unit_length:.4g} per unit length)"
            + ("" if s.exact else "  [not exact: see leaves]"),
            f"  rank: {s.directions} directions at {s.rank_points} point(s), tolerance {s.rank_tolerance:g}·σ_max,"
            f" step {s.rank_step:g}·|x|",
            f"  statistics over {s.samples} sample(s) from {s.samples_source}"
            + (f"; {s.weights_drawn} initializer(s) drawn at random ({s.random_weights})" if s.weights_drawn else ""),
            f"  {s.seconds:.1f} s",
            "",
        ]
        header = ("leaf", "op", "units", "c bits", "trans", "local", "lbits", "d", "rank", "inactive", "dead")
        rows = []
        for leaf in self.leaves:
            if not leaf.units and leaf.rank is None:
                continue
            rows.append((
                _short(leaf.name), leaf.op_type, _num(leaf.units if leaf.units else None), _f(leaf.complexity_bits if leaf.units else None),
                _num(leaf.transitions) + ("~" if leaf.transitions_estimated else ""), _num(leaf.local_regions),
                _f(leaf.local_region_bits), _num(leaf.effective_dim), _num(leaf.rank),
                "" if leaf.inactive_fraction is None else f"{leaf.inactive_fraction:.3f}", _num(leaf.dead_units),
            ))
        widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
        lines.append("  ".join(h.ljust(w) if i < 2 else h.rjust(w) for i, (h, w) in enumerate(zip(header, widths))))
        for r in rows:
            lines.append("  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))))
        lines.append("")
        lines.append("trans: pattern changes over all lines (~: includes estimates from intervals left open);"
                     " local: most pieces on one segment where the leaf's ancestors keep their pattern"
                     " (log2 ≤ c bits); d: effective dimension of the walk; rank: probed Jacobian rank.")
        for w in self.warnings:
            lines.append(f"warning: {w}")
        return "\n".join(lines) + "\n"


def _short(name: str, width: int = 48) -> str:
    return name if len(name) <= width else "…" + name[-(width - 1):]


def _num(v) -> str:
    return "" if v is None else str(v)


def _f(v) -> str:
    return "" if v is None else f"{v:.2f}"


def _finite(d: dict) -> dict:
    """JSON has no infinities: write them as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
