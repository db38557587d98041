"""The global summary of a walk (SPEC §3): complexity, powers, depth, units, params W, MACs,
the bottleneck and the VC-dimension bound, with the parameter-counting convention of SPEC §3."""
from __future__ import annotations

import math
from typing import Iterator, Mapping, Sequence

from .algebra import Dominators, LeafWalk, log2_ratio
from .bounds import vc_bound
from .graph import DATA, FLOAT_TYPES, STATIC, GraphView, Node
from .registry import Leaf
from .result import Bottleneck, LeafResult, Summary

LOG10_2 = math.log10(2.0)
#: Inputs of these ops that hold statistics rather than learned weights (not counted in W).
STATISTICS_INPUTS = {("", "BatchNormalization"): (3, 4)}
#: Quantization parameters (scale, zero point: inputs 1 and 2) are not weights; the quantized tensor is.
QUANTIZERS = frozenset({"QuantizeLinear", "DequantizeLinear"})
#: Elementwise arithmetic: a one-element static operand (a Gelu constant, an attention scale, a
#: mask fill value, a Clip bound) is part of the op's definition, not a weight.
ARITHMETIC = frozenset({"Add", "Sub", "Mul", "Div", "Pow", "Where", "Max", "Min", "Clip"})
#: Kinds whose leaves are piecewise linear: the VC bound of Bartlett et al. applies when every live leaf has one.
PWL_KINDS = frozenset({"pwl", "linear", "structural"})


def summarize(
    view: GraphView,
    walked: Sequence[LeafWalk],
    results: Sequence[LeafResult],
    d: Mapping[str, int],
    d0: int,
    warnings: list[str],
    dominators: Dominators,
) -> Summary:
    """The SPEC §3 global metrics over the leaves that reach an output (W over every leaf)."""
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

    vc, reason = vc_bound_of([r for _, r in live], depth)
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
        bottleneck=bottleneck(view, walked, d, dominators),
        vc_bound=vc,
        vc_bound_reason=reason,
        opaque_leaves=sum(1 for r in results if r.kind == "opaque"),
        leaves=len(results),
        nonlinear_leaves=len(nonlinear),
        profile=profile,
    )


def bottleneck(view: GraphView, walked: Sequence[LeafWalk], d: Mapping[str, int], dominators: Dominators) -> Bottleneck | None:
    """The data tensor of smallest d among those every source-to-output path passes through (first on ties)."""
    found = None
    for tensor, k in dominators.chain([o for o in view.outputs if view.tensors[o].role == DATA]):
        dim = d.get(tensor, 0)
        if found is None or dim < found.dim:
            found = Bottleneck(dim, None if k is None else walked[k].leaf.name, tensor)
    return found


def vc_bound_of(live: Sequence[LeafResult], depth: int) -> tuple[float | None, str]:
    """Bartlett et al.'s VC bound over the live leaves, or None with the reason when one is not PWL."""
    not_pwl = next((r for r in live if r.kind not in PWL_KINDS), None)
    if not_pwl is not None:
        return None, f"not piecewise linear: {not_pwl.op_type} {not_pwl.name!r} is {not_pwl.kind}"
    units_by_depth: dict[int, int] = {}
    params_by_depth: dict[int, int] = {}
    for r in live:
        if r.nonlinear:
            units_by_depth[r.depth] = units_by_depth.get(r.depth, 0) + r.units
        params_by_depth[r.depth] = params_by_depth.get(r.depth, 0) + r.params
    max_breaks = max((g.pieces - 1 for r in live for g in r.groups), default=1)
    return vc_bound(depth, sum(params_by_depth.values()), max_breaks, units_by_depth, params_by_depth), ""


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
            # constants absorbed into a fused elementwise chain define its function (a PRelu's slope is learned)
            if leaf.fused == "unary" and node.op_type != "PRelu":
                continue
            total += sum(_static_params(view, name, seen, quantized) for name, quantized in _weight_inputs(view, node))
        out.append(total)
    return out


def _weight_inputs(view: GraphView, node: Node) -> Iterator[tuple[str, bool]]:
    """The inputs of `node` that can hold weights, each with whether it is a quantized tensor
    (counted whatever its type): not statistics, quantization parameters or an arithmetic op's
    one-element constant."""
    skip = STATISTICS_INPUTS.get((node.domain, node.op_type), ())
    default = node.domain in ("", "ai.onnx")
    for i, name in enumerate(node.inputs):
        if not name or i in skip or (default and node.op_type in QUANTIZERS and i > 0):
            continue
        t = view.tensors.get(name)
        if default and node.op_type in ARITHMETIC and t is not None and t.role == STATIC and t.resolved and t.size == 1:
            continue
        yield name, default and node.op_type == "DequantizeLinear" and i == 0


def source_params(view: GraphView, leaves: Sequence[Leaf]) -> int:
    """Float initializers feeding the lookups that produce sources (embedding tables)."""
    seen = {i for leaf in leaves for m in leaf.members for i in m.inputs if i}
    total = 0
    for t in view.sources:
        node = view.producer(t.name)
        if node is not None:
            total += sum(_static_params(view, name, seen, quantized) for name, quantized in _weight_inputs(view, node))
    return total


def _static_params(view: GraphView, name: str, seen: set[str], quantized: bool = False) -> int:
    """Elements of the stored float (or quantized) tensors behind static tensor `name`, each counted once."""
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
            stack.extend(_weight_inputs(view, node))
    return total
