"""The probe's typed result and its JSON form (`onnxlayer.present.probe` writes the table and CSV).

JSON field names are stable (tools parse them; add fields, never rename): `summary`
{`lines`, `points`, `span`, `regions_per_line`, `region_bound_bits`, `provider`, `seed`, ...}
and `leaves` [{`name`, `op_type`, `transitions`, `effective_dim`, `rank`,
`inactive_fraction`, `dead_units`, ...}].
"""
from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..result import json_text

SCHEMA_VERSION = 1


@dataclass(frozen=True)
class GroupStats:
    """Activation statistics of one unit group of a leaf (see `onnxlayer.probe.stats`)."""

    label: str
    units: int
    pieces: int
    piece_fractions: tuple[float, ...] | None
    inactive_fraction: float | None
    dead_units: int | None
    frozen_units: int


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
        return json_text(self.to_dict(), indent)


def _finite(d: dict) -> dict:
    """JSON has no infinities: write them as null."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in d.items()}
