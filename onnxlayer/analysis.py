"""`analyze()`: load → graph view → fusion → registry → walk → result."""
from __future__ import annotations

import gc
from dataclasses import dataclass
import math
import os
from pathlib import Path
from collections import Counter
from contextlib import contextmanager
from typing import Any, Iterator, Mapping, Sequence

import onnx

from . import __version__
from . import ops as _ops  # noqa: F401  (registers every rule)
from .algebra import Dominators, LeafWalk, log2_ratio, walk
from .bounds import vc_bound
from .errors import OpaqueLeafError
from .fusion import build_leaves
from .graph import DATA, FLOAT_TYPES, STATIC, GraphView
from .loading import ModelSource, load_model, model_sha256
from .prepare import prepare
from .registry import REGISTRY, Leaf
from .result import AnalysisResult, Bottleneck, GroupResult, LeafResult, ModelInfo, Summary
from .transfer import Settings

LOG10_2 = math.log10(2.0)
#: Inputs of these ops that hold statistics rather than learned weights (not counted in W).
STATISTICS_INPUTS = {("", "BatchNormalization"): (3, 4)}
PWL_KINDS = frozenset({"pwl", "linear", "structural"})


def analyze(
    model: ModelSource | Any,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    *,
    example_inputs: Any = None,
    tolerance: float = Settings.tolerance,
    domain: float = Settings.domain,
    strict: bool = False,
    fuse: bool = True,
    path: str | None = None,
    trust_pickle: bool = False,
    **converter_options: Any,
) -> AnalysisResult:
    """Compute every per-leaf and global metric of SPEC.md for a model.

    `model` is an ONNX path, raw bytes or an `onnx.ModelProto`; or a framework model: a Keras
    model, a `torch.nn.Module` (with `example_inputs`), a `torch.export.ExportedProgram`, or a
    `.keras`/`.h5`/SavedModel/`.pt2` path, converted in memory by `onnxlayer.converters`.
    `input_shapes` maps graph input names to concrete shapes for symbolic dims other than the
    batch dimension.
    """
    settings = Settings(float(tolerance), float(domain))
    source, label = to_onnx_source(model, example_inputs, trust_pickle, converter_options)
    return run_analysis(source, input_shapes, settings, strict=strict, fuse=fuse, path=path or label).result


def to_onnx_source(model: Any, example_inputs: Any = None, trust_pickle: bool = False,
                   converter_options: Mapping[str, Any] | None = None) -> tuple[ModelSource, str | None]:
    """ONNX sources pass through; framework models and files go through the converters.

    Files named `.onnx` are read as ONNX directly (their errors are ONNX errors); other paths and
    directories are recognised by content (`converters.detect_format`).
    """
    options = dict(converter_options or {})
    if isinstance(model, (bytes, bytearray, onnx.ModelProto)):
        return model, None
    if isinstance(model, (str, os.PathLike)):
        p = Path(model)
        if p.suffix.lower() == ".onnx" or not p.exists():
            return model, None
        from .converters import convert, detect_format

        if detect_format(p) == "onnx":
            return model, None
        return convert(p, example_inputs, trust_pickle=trust_pickle, **options), str(p)
    from .converters import convert

    return convert(model, example_inputs, **options), f"<{type(model).__name__}>"


@contextmanager
def _gc_paused() -> Iterator[None]:
    """The analysis builds many small acyclic objects; Python's cyclic collector would rescan
    the growing heap over and over (superlinear on 100k-node graphs). Pause it, then restore."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


@dataclass
class Analysis:
    """The analysis with the pieces it was computed from (for algebra, probes, tools)."""

    proto: onnx.ModelProto
    view: GraphView
    leaves: list[Leaf]
    walked: list[LeafWalk]
    d: dict[str, int]
    d0: int
    dominators: Dominators
    settings: Settings
    result: AnalysisResult


def run_analysis(model: ModelSource, input_shapes: Mapping[str, Sequence[int]] | None, settings: Settings, *,
                 strict: bool = False, fuse: bool = True, path: str | None = None) -> Analysis:
    """load → graph view → fusion → walk → result, keeping every intermediate."""
    with _gc_paused():
        proto = load_model(model)
        view = prepare(proto, input_shapes, REGISTRY.has_rule)
        leaves = build_leaves(view, settings) if fuse else build_leaves(view, settings, fusions=())
        dominators = Dominators()
        walked, d, d0 = walk(view, leaves, settings, dominators)
        label = path or (str(model) if isinstance(model, (str, os.PathLike)) else None)
        info = ModelInfo(
            path=label,
            # of the file the user named (also for converted framework files), else of the bytes
            sha256=model_sha256(label) if label and Path(label).is_file() else model_sha256(model),
            opset=view.opset,
            producer=" ".join(x for x in (proto.producer_name, proto.producer_version) if x),
            ir_version=int(proto.ir_version),
            graph_name=proto.graph.name,
        )
        result = assemble(view, leaves, walked, d, d0, settings, info, dominators, strict)
    return Analysis(proto, view, leaves, walked, d, d0, dominators, settings, result)


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
    params = leaf_params(view, leaves)
    results: list[LeafResult] = []
    for w, p in zip(walked, params):
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
                groups=tuple(GroupResult(g.units, g.pieces) for g in lta.groups),
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
    opaque = [r for r, w in zip(results, walked) if r.kind == "opaque"]
    if opaque:
        by_type = Counter((r.op_type, r.domain) for r in opaque)
        first = {}
        for r, w in zip(results, walked):
            if r.kind == "opaque":
                first.setdefault((r.op_type, r.domain), w.opaque_reason or r.name)
        for (op, dom), n in sorted(by_type.items()):
            label = f"{dom}::{op}" if dom else op
            warnings.append(f"{n} opaque leaf(s) of op type {label}: {first[(op, dom)]}; treated as rank-preserving with no units")
        if strict:
            kinds = ", ".join(f"{dom + '::' if dom else ''}{op} ×{n}" for (op, dom), n in sorted(by_type.items()))
            raise OpaqueLeafError(f"--strict: {len(opaque)} opaque leaf(s) without a registry rule: {kinds}")
    summary = summarize(view, walked, results, d, d0, warnings, dominators)
    return AnalysisResult(
        model=info,
        settings={"tolerance": settings.tolerance, "domain": settings.domain},
        summary=summary,
        leaves=tuple(results),
        warnings=tuple(warnings),
        tool_version=__version__,
    )


def summarize(
    view: GraphView,
    walked: Sequence[LeafWalk],
    results: Sequence[LeafResult],
    d: Mapping[str, int],
    d0: int,
    warnings: list[str],
    dominators: Dominators,
) -> Summary:
    live = [(w, r) for w, r in zip(walked, results) if w.reaches_output]
    nonlinear = [(w, r) for w, r in live if r.nonlinear]
    complexity = sum(r.complexity_bits for _, r in live)
    float_outputs = [o for o in view.outputs if view.tensors[o].role == DATA and view.tensors[o].elem_type in FLOAT_TYPES]
    out_d = sum(d.get(o, 0) for o in float_outputs)
    output_dim = sum(view.tensors[o].size for o in float_outputs)
    power = log2_ratio(min(d0, out_d), d0)
    if power is None:
        warnings.append("no float data output has a positive effective dimension; intrinsic power undefined")
    mean_terms = [log2_ratio(r.d_in, d0) for _, r in nonlinear]
    mean_terms = [t for t in mean_terms if t is not None]
    mean_power = sum(mean_terms) / len(mean_terms) if mean_terms else None
    depth = max((r.depth for _, r in nonlinear), default=0)
    units = sum(r.units for _, r in live)
    macs = sum(r.macs for _, r in live)
    params = sum(r.params for r in results) + source_params(view, [w.leaf for w in walked])
    profile = tuple((r.depth, math.log2(r.d_in)) for _, r in nonlinear if r.d_in > 0)

    bottleneck = None
    chain = dominators.chain([o for o in view.outputs if view.tensors[o].role == DATA])
    for tensor, k in chain:
        dim = d.get(tensor, 0)
        if bottleneck is None or dim < bottleneck.dim:
            bottleneck = Bottleneck(dim, None if k is None else walked[k].leaf.name, tensor)

    vc, reason = None, ""
    not_pwl = next((r for _, r in live if r.kind not in PWL_KINDS), None)
    if not_pwl is not None:
        reason = f"not piecewise linear: {r_label(not_pwl)} is {not_pwl.kind}"
    else:
        units_by_depth: dict[int, int] = {}
        params_by_depth: dict[int, int] = {}
        for _, r in live:
            if r.nonlinear:
                units_by_depth[r.depth] = units_by_depth.get(r.depth, 0) + r.units
            params_by_depth[r.depth] = params_by_depth.get(r.depth, 0) + r.params
        max_breaks = max((g.pieces - 1 for _, r in live for g in r.groups), default=1)
        vc = vc_bound(depth, sum(params_by_depth.values()), max_breaks, units_by_depth, params_by_depth)
    return Summary(
        complexity_bits=complexity,
        complexity_log10_regions=complexity * LOG10_2,
        intrinsic_power=power,
        intrinsic_power_mean=mean_power,
        input_dim=d0,
        output_dim=output_dim,
        depth=depth,
        units=units,
        params=params,
        macs=macs,
        bottleneck=bottleneck,
        vc_bound=vc,
        vc_bound_reason=reason,
        opaque_leaves=sum(1 for r in results if r.kind == "opaque"),
        leaves=len(results),
        nonlinear_leaves=len(nonlinear),
        profile=profile,
    )


def r_label(r: LeafResult) -> str:
    return f"{r.op_type} {r.name!r}"


def leaf_params(view: GraphView, leaves: Sequence[Leaf]) -> list[int]:
    """Elements of distinct float initializers feeding each leaf (first leaf wins).

    Embedding tables feed the nodes that start the data flow from token ids (SPEC §1
    sources); they are learned weights, so they are counted too (as frameworks do), though
    those lookups are not leaves: see `source_params`.
    """
    seen: set[str] = set()
    out = []
    for leaf in leaves:
        total = 0
        for node in leaf.members:
            skip = STATISTICS_INPUTS.get((node.domain, node.op_type), ())
            for i, name in enumerate(node.inputs):
                if not name or i in skip:
                    continue
                total += _static_params(view, name, seen, quantized=node.op_type == "DequantizeLinear" and i == 0)
        out.append(total)
    return out


def source_params(view: GraphView, leaves: Sequence[Leaf]) -> int:
    """Float initializers feeding the lookups that produce sources (embedding tables)."""
    seen = {i for leaf in leaves for m in leaf.members for i in m.inputs if i}
    total = 0
    for t in view.sources:
        node = view.producer(t.name)
        if node is not None:
            total += sum(_static_params(view, i, seen) for i in node.inputs if i)
    return total


def _static_params(view: GraphView, name: str, seen: set[str], quantized: bool = False) -> int:
    stack = [(name, quantized)]
    total = 0
    while stack:
        name, quantized = stack.pop()
        if name in seen:
            continue
        t = view.tensors.get(name)
        if t is None or t.role != STATIC:
            continue
        seen.add(name)
        if t.initializer:
            if t.elem_type in FLOAT_TYPES or quantized:
                total += t.size
            continue
        node = view.producer(name)
        if node is not None and node.op_type not in ("Shape", "Size", "Constant", "ConstantOfShape", "Range"):
            stack.extend((i, node.op_type == "DequantizeLinear" and k == 0) for k, i in enumerate(node.inputs) if i)
    return total
