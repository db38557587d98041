"""Typed, immutable analysis results and their JSON form (SPEC §6, schema 1)."""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

SCHEMA_VERSION = 1


def json_text(data: Any, indent: int | None = 2) -> str:
    """JSON as every record writes it: UTF-8 text as is, and no NaN or infinity (they are not JSON)."""
    return json.dumps(data, indent=indent, ensure_ascii=False, allow_nan=False)


@dataclass(frozen=True, slots=True)
class GroupResult:
    units: int
    pieces: int


@dataclass(frozen=True, slots=True)  # one per leaf: no instance dict
class LeafResult:
    name: str
    op_type: str
    domain: str
    kind: str
    exact: bool
    scope: str
    d_in: int
    d_out: int
    rank_cap: int
    groups: tuple[GroupResult, ...]
    complexity_bits: float
    intrinsic_power: float | None
    ambient_ratio: float | None
    redundancy: float | None
    params: int
    macs: int
    depth: int
    in_size: int
    out_size: int
    reaches_output: bool = True
    fused: tuple[str, ...] = ()
    note: str = ""

    @property
    def units(self) -> int:
        return sum(g.units for g in self.groups)

    @property
    def nonlinear(self) -> bool:
        return bool(self.groups)


@dataclass(frozen=True)
class Bottleneck:
    dim: int
    leaf: str | None
    tensor: str


@dataclass(frozen=True)
class Summary:
    complexity_bits: float
    complexity_log10_regions: float
    intrinsic_power: float | None
    intrinsic_power_mean: float | None
    input_dim: int
    output_dim: int
    depth: int
    units: int
    params: int
    macs: int
    bottleneck: Bottleneck | None
    vc_bound: float | None
    vc_bound_reason: str
    opaque_leaves: int
    leaves: int
    nonlinear_leaves: int
    profile: tuple[tuple[int, float], ...] = ()


@dataclass(frozen=True)
class ModelInfo:
    path: str | None
    sha256: str | None
    opset: int
    producer: str
    ir_version: int
    graph_name: str = ""


@dataclass(frozen=True)
class AnalysisResult:
    """Everything `onnxlayer analyze` reports for one model."""

    model: ModelInfo
    settings: dict[str, float]
    summary: Summary
    leaves: tuple[LeafResult, ...]
    warnings: tuple[str, ...] = field(default_factory=tuple)
    tool_version: str = ""
    #: the warnings about ops without a registry rule (also in `warnings`): the CLI repeats them
    #: on stderr when the report goes to a file or is JSON
    opaque_warnings: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        s = self.summary
        summary = {
            "complexity_bits": s.complexity_bits,
            "complexity_log10_regions": s.complexity_log10_regions,
            "intrinsic_power": s.intrinsic_power,
            "intrinsic_power_mean": s.intrinsic_power_mean,
            "input_dim": s.input_dim,
            "output_dim": s.output_dim,
            "depth": s.depth,
            "units": s.units,
            "params": s.params,
            "macs": s.macs,
            "bottleneck": None if s.bottleneck is None else {"dim": s.bottleneck.dim, "leaf": s.bottleneck.leaf, "tensor": s.bottleneck.tensor},
            "vc_bound": s.vc_bound,
            "vc_bound_reason": s.vc_bound_reason or None,
            "opaque_leaves": s.opaque_leaves,
            "leaves": s.leaves,
            "nonlinear_leaves": s.nonlinear_leaves,
            "profile": [{"depth": d, "log2_d_in": v} for d, v in s.profile],
        }
        leaves = []
        for leaf in self.leaves:
            item = asdict(leaf)
            item["groups"] = [{"units": g.units, "pieces": g.pieces} for g in leaf.groups]
            item["fused"] = list(leaf.fused)
            leaves.append(item)
        return {
            "schema_version": SCHEMA_VERSION,
            "tool": {"name": "onnxlayer", "version": self.tool_version},
            "settings": dict(self.settings),
            "model": asdict(self.model),
            "summary": summary,
            "leaves": leaves,
            "warnings": list(self.warnings),
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json_text(self.to_dict(), indent)

    def leaf(self, name: str) -> LeafResult:
        for leaf in self.leaves:
            if leaf.name == name:
                return leaf
        raise KeyError(f"no leaf named {name!r}")
