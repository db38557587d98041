"""The analysis pipeline: load → graph view → fusion → registry → walk → result (SPEC §1–3).

`run_analysis` keeps every intermediate for the tools built on it (the algebra expression,
the probes); `onnxlayer.api.analyze` is the public entry that returns the result alone.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

from . import ops as _ops  # noqa: F401  (registers every rule)
from .algebra import Dominators, LeafWalk, log2_ratio, walk
from .budget import Budget, gc_paused
from .errors import OpaqueLeafError
from .fusion import build_leaves
from .graph import GraphView
from .loading import ModelSource, load_for_analysis, model_sha256
from .prepare import prepare
from .registry import REGISTRY, Leaf
from .result import AnalysisResult, GroupResult, LeafResult, ModelInfo
from .summary import count_weights, summarize
from .transfer import Settings
from .version import __version__


@dataclass
class Analysis:
    """The analysis with the pieces it was computed from (for algebra, probes, tools)."""

    view: GraphView
    leaves: list[Leaf]
    walked: list[LeafWalk]
    d: dict[str, int]
    d0: int
    dominators: Dominators
    settings: Settings
    result: AnalysisResult


def run_analysis(model: ModelSource, input_shapes: Mapping[str, Sequence[int]] | None, settings: Settings, *,
                 strict: bool = False, fuse: bool = True, path: str | None = None, budget: Budget = Budget()) -> Analysis:
    """load → graph view → fusion → walk → result, keeping every intermediate."""
    with gc_paused():
        proto, digest, payloads = load_for_analysis(model, budget)
        producer = " ".join(x for x in (proto.producer_name, proto.producer_version) if x)
        ir_version, graph_name = int(proto.ir_version), proto.graph.name
        owned = proto is not model  # parsed here from a file or bytes, not the caller's ModelProto
        handed, proto = [proto], None  # preparation holds the only reference, and may let the model go
        view = prepare(handed.pop(), input_shapes, REGISTRY.has_rule, budget, REGISTRY.expansion, owned=owned)
        view.payloads = payloads
        leaves = build_leaves(view, settings) if fuse else build_leaves(view, settings, fusions=())
        dominators = Dominators()
        walked, d, d0 = walk(view, leaves, settings, dominators)
        label = path or (str(model) if isinstance(model, (str, os.PathLike)) else None)
        info = ModelInfo(
            path=label,
            # of the file the user named (also for converted framework files), else of the bytes
            sha256=model_sha256(label) if label and Path(label).is_file() and not _same_file(model, label) else digest.value(),
            opset=view.opset,
            producer=producer,
            ir_version=ir_version,
            graph_name=graph_name,
        )
        result = assemble(view, leaves, walked, d, d0, settings, info, dominators, strict)
    return Analysis(view, leaves, walked, d, d0, dominators, settings, result)


def _same_file(model: ModelSource, label: str) -> bool:
    """Whether the model was read from the file `label` names (its digest is then the file's)."""
    return isinstance(model, (str, os.PathLike)) and Path(model) == Path(label)


def assemble(
    view: GraphView,
    leaves: Sequence[Leaf],
    walked: Sequence[LeafWalk],
    d: Mapping[str, int],
    d0: int,
    settings: Settings,
    info: ModelInfo,
    dominators: Dominators,
    strict: bool = False,
) -> AnalysisResult:
    """Turn the walk into leaf results and the global summary."""
    warnings = list(view.warnings)
    weights = count_weights(view, leaves)
    results: list[LeafResult] = []
    group_results: dict[tuple, tuple[GroupResult, ...]] = {}  # leaves with the same unit groups share one tuple
    for w, p in zip(walked, weights.per_leaf):
        lta = w.lta
        results.append(
            LeafResult(
                name=w.leaf.name,
                op_type=w.leaf.op_type,
                domain=w.leaf.domain,
                kind=lta.kind,
                exact=lta.exact,
                scope=w.leaf.scope,
                d_in=w.d_in,
                d_out=w.d_out,
                rank_cap=lta.rank_cap,
                groups=group_results.get(lta.groups) or group_results.setdefault(
                    lta.groups, tuple(GroupResult(g.units, g.pieces) for g in lta.groups)),
                complexity_bits=w.complexity,
                intrinsic_power=log2_ratio(w.d_out, w.d_in),
                ambient_ratio=log2_ratio(w.out_size, w.in_size),
                redundancy=log2_ratio(w.out_size, w.d_out),
                params=p,
                macs=lta.macs,
                depth=w.depth,
                in_size=w.in_size,
                out_size=w.out_size,
                reaches_output=w.reaches_output,
                fused=tuple(m.op_type for m in w.leaf.members) if w.leaf.fused else (),
                note=lta.note,
            )
        )
    opaque_warnings = _opaque_warnings(view, results, walked, strict)
    warnings += opaque_warnings
    summary = summarize(view, walked, results, d, d0, warnings, dominators, weights)
    return AnalysisResult(
        model=info,
        settings={"tolerance": settings.tolerance, "domain": settings.domain},
        summary=summary,
        leaves=tuple(results),
        warnings=tuple(warnings),
        tool_version=__version__,
        opaque_warnings=tuple(opaque_warnings),
    )


def _opaque_warnings(view: GraphView, results: Sequence[LeafResult], walked: Sequence[LeafWalk], strict: bool) -> list[str]:
    """One warning per op type (named with its domain) that leaves opaque leaves, saying why: no
    rule, rules from a later opset only, or its rule's note (a Loop not unrolled); and one per op
    type without a rule that computes sources from integer inputs (SPEC §1: the flow starts there,
    so nothing else would tell); with `strict`, an OpaqueLeafError instead."""
    leaves: dict[tuple[str, str], list[str]] = {}
    for r, w in zip(results, walked):
        if r.kind == "opaque":
            leaves.setdefault((r.op_type, r.domain), []).append(w.opaque_reason or r.note or "its rule gives no approximation")
    sources: dict[tuple[str, str], list[str]] = {}
    for t in view.sources:
        node = view.producer(t.name)
        if node is not None and REGISTRY.lookup(node.op_type, node.domain, view.opsets.get(node.domain, view.opset)) is None:
            sources.setdefault((node.op_type, node.domain), []).append(
                REGISTRY.missing(node.op_type, node.domain, view.opsets.get(node.domain, view.opset)))
    label = lambda op, dom: f"{dom or 'ai.onnx'}::{op}"  # noqa: E731
    notes = [f"{len(why)} opaque leaf(s) of op type {label(op, dom)}: {why[0]}; treated as rank-preserving with no units"
             for (op, dom), why in sorted(leaves.items())]
    notes += [f"{len(why)} opaque source(s) of op type {label(op, dom)}: {why[0]}; its float output, computed from integer "
              "inputs, is taken as a source carrying at most their elements" for (op, dom), why in sorted(sources.items())]
    if strict and (leaves or sources):
        kinds = ", ".join(f"{label(op, dom)} ×{len(why)}" for (op, dom), why in sorted({**leaves, **sources}.items()))
        count = sum(map(len, leaves.values())) + sum(map(len, sources.values()))
        what = "opaque leaf(s)" if not sources else "opaque leaf(s) and source(s)" if leaves else "opaque source(s)"
        raise OpaqueLeafError(f"--strict: {count} {what} without a registry rule: {kinds}")
    return notes
