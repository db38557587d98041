"""Fusion into canonical leaves (SPEC §4), so one architecture gets one answer.

(a) single-entry/single-exit regions of elementwise ops fed by one data tensor `x`
    (x·σ(x), the erf/tanh Gelus, HardSwish, Mish, ...) become one unary unit whose pieces
    come from evaluating the region on the fitting grid (per channel, the maximum);
(b) decomposed Softmax (Exp/ReduceSum/Div, optional max subtraction) becomes Softmax;
(c) decomposed normalizations (mean, centred square, mean, +ε, √, divide, affine)
    become one normalization leaf.
(d), QuantizeLinear→DequantizeLinear pairs read as the identity or a ReLU, happens in preparation
(`quantization.py`): the pairs' readers are rewired there, so that (a)–(c) see one tensor.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Sequence

from .deferred import numpy as np
from .elementwise import as_arrays, chain_columns, chain_constants, chain_signature, elementwise_entry, evaluate_columns
from .fitcache import remembered
from .graph import DATA, SHAPE_ONLY_OPS, GraphView, Node, axis_in_range
from .ops.fused import FUSED_DOMAIN  # importing the ops registers the entries fusion reads
from .registry import Leaf, node_attr
from .transfer import EXACT_KINDS, GRID_POINTS, Settings, segment_count

FUSIONS = ("unary", "softmax", "normalization")
#: Distinct constant columns a fused chain is fitted on (the most of their pieces), and how many
#: are evaluated on the grid at once.
MAX_COLUMNS, COLUMN_BATCH = 4096, 256


#: The statistics of decomposed normalizations (SPEC §4 c).
REDUCTIONS = frozenset({"ReduceMean", "ReduceSum", "ReduceMax"})


# ----------------------------------------------------------------- helpers


def node_scope(node: Node) -> str:
    for prop in node.proto.metadata_props:
        if prop.key == "pkg.torch.onnx.name_scopes":
            try:
                import ast

                parts = [p for p in ast.literal_eval(prop.value) if p]
                return "/".join(parts[:-1]) if len(parts) > 1 else ""
            except Exception:
                break
    return node.name.strip("/").rpartition("/")[0]


#: The attributes of a leaf no fusion made: none (one read-only mapping for all).
NO_ATTRS: Mapping[str, Any] = MappingProxyType({})


def plain_leaf(node: Node) -> Leaf:
    return Leaf(node.name, node.op_type, node.domain, node.inputs, node.outputs, (node,), NO_ATTRS, node_scope(node))


def data_nodes(view: GraphView) -> list[Node]:
    """Nodes with a data input (SPEC §1 leaves), except shape-only ops."""
    out = []
    for node in view.nodes:
        if node.op_type in SHAPE_ONLY_OPS and node.domain == "":
            continue
        if any(view.tensors[i].role == DATA for i in node.all_inputs):
            out.append(node)
    return out


@dataclass
class _Ctx:
    view: GraphView
    settings: Settings
    claimed: dict[int, int]  # node index -> region id

    def t(self, name: str):
        return self.view.tensors[name]

    def is_data(self, name: str) -> bool:
        return bool(name) and self.view.tensors[name].role == DATA

    def consumers(self, name: str) -> list[Node]:
        return [self.view.nodes_by_index[k] for k in dict.fromkeys(self.view.tensors[name].consumers)]

    def data_inputs(self, node: Node) -> list[str]:
        return [i for i in dict.fromkeys(node.inputs) if self.is_data(i)]

    def single_output(self, node: Node) -> str | None:
        outs = [o for o in node.outputs if o]
        return outs[0] if len(outs) == 1 else None

    def role(self, node: Node) -> str | None:
        """The node's role in elementwise fusion, None if it takes no part."""
        entry = elementwise_entry(node, self.view.opset)
        return entry.elementwise.role if entry is not None else None

    def affine(self, node: Node) -> bool:
        entry = elementwise_entry(node, self.view.opset)
        return entry is not None and entry.elementwise.affine

    def attr(self, node: Node, name: str) -> Any:
        """The node's attribute, else its ONNX schema's default."""
        return node_attr(node, self.view.opsets.get(node.domain, self.view.opset))(name)


def _reduce_axes(ctx: _Ctx, node: Node) -> tuple[int, ...] | None:
    """Normalised axes of a keepdims reduction, or None if not statically known."""
    if not int(ctx.attr(node, "keepdims")):
        return None
    rank = len(ctx.t(node.inputs[0]).shape or ())
    axes = node.attr("axes")
    if axes is None and len(node.inputs) > 1 and node.inputs[1]:
        value = ctx.view.value(node.inputs[1])
        axes = None if value is None else value.ravel().tolist()
    if axes is None:
        return None if ctx.attr(node, "noop_with_empty_axes") else tuple(range(rank))
    if not all(axis_in_range(int(a), rank) for a in axes):
        return None  # an axis outside the input: no normalization to recognise
    return tuple(sorted(int(a) % rank for a in axes))


def _layout_noop(ctx: _Ctx, node: Node) -> bool:
    """A layout op that only inserts, drops or moves size-1 axes: every value keeps its place
    (tf2onnx leaves such Transposes on NHWC statistics)."""
    if not node.inputs:
        return False
    src, out = ctx.t(node.inputs[0]).shape, ctx.t(ctx.single_output(node) or node.outputs[0]).shape
    if src is None or out is None or not all(isinstance(d, int) for d in src + out):
        return False
    if node.op_type == "Transpose":
        perm = node.attr("perm") or list(range(len(src)))[::-1]
        moved = [axis for axis in perm if src[axis] != 1]
        return moved == sorted(moved)
    return [d for d in src if d != 1] == [d for d in out if d != 1]


def _is_elementwise(ctx: _Ctx, node: Node, shape: tuple, reduced_ok: bool = False) -> bool:
    """An elementwise op whose output keeps the region's shape (or, for statistics, a
    keepdims-reduced version of it); layout no-ops count as the identity."""
    role = ctx.role(node)
    if role is None or (role == "layout" and not _layout_noop(ctx, node)):
        return False
    out = ctx.single_output(node)
    if out is None:
        return False
    got = ctx.t(out).shape
    if got != shape:
        if not (reduced_ok and got is not None and shape is not None and len(got) == len(shape)
                and all(g == s or g == 1 for g, s in zip(got, shape))):
            return False
    if node.op_type == "Cast" and not ctx.t(out).is_float:
        return False
    return True


def _static_scalar_only(ctx: _Ctx, node: Node) -> bool:
    for i in node.inputs:
        if i and not ctx.is_data(i):
            shape = ctx.t(i).shape
            if shape is None or math.prod(d if isinstance(d, int) else 2 for d in shape) != 1:
                return False
    return True


# ----------------------------------------------------------------- region search


def _sese_region(ctx: _Ctx, x: str, allow_reduce: bool) -> tuple[list[Node], str] | None:
    """Grow from `x` through single-source ops until the flow converges on one tensor."""
    shape = ctx.t(x).shape
    produced = {x}
    region: list[Node] = []
    open_consumers = {x: set(n.index for n in ctx.consumers(x))}
    order = ctx.view.positions
    pending = {n.index: n for n in ctx.consumers(x)}
    waiting: dict[int, Node] = {}  # consumers still missing a data input from the region
    while True:
        live = [t for t, cs in open_consumers.items() if cs]
        if region and len(live) == 1 and live[0] != x:
            return region, live[0]
        if not pending or len(region) > 64:
            return None
        node = pending.pop(min(pending, key=order.__getitem__))
        if node.index in ctx.claimed:
            return None
        if any(i not in produced for i in ctx.data_inputs(node)):
            waiting[node.index] = node
            continue
        ok = _is_elementwise(ctx, node, shape, reduced_ok=allow_reduce)
        if not ok and allow_reduce and node.op_type in REDUCTIONS and node.domain == "":
            ok = _reduce_axes(ctx, node) is not None
        if not ok:
            return None
        region.append(node)
        for i in node.inputs:
            if i in open_consumers:
                open_consumers[i].discard(node.index)
        out = ctx.single_output(node)
        produced.add(out)
        cons = ctx.consumers(out)
        open_consumers[out] = set(n.index for n in cons) | ({-1} if out in ctx.view.outputs else set())
        pending.update((c.index, c) for c in cons if c.index not in pending)
        pending.update(waiting)  # a new region tensor may complete a waiting node
        waiting.clear()


def _extend_forward(ctx: _Ctx, region: list[Node], exit_: str, after_normalization: bool) -> str:
    """Continue through single-consumer elementwise ops with static scalar operands; behind a
    normalization only through its affine part (a nonlinearity after it is a leaf of its own)."""
    shape = ctx.t(exit_).shape
    while exit_ not in ctx.view.outputs:
        cons = ctx.consumers(exit_)
        if len(cons) != 1:
            break
        node = cons[0]
        if node.index in ctx.claimed or not _is_elementwise(ctx, node, shape) or ctx.data_inputs(node) != [exit_]:
            break
        scaling = ctx.affine(node) or ctx.role(node) == "scaling"
        # per-channel scales would make piece counts depend on weight values: scalars only,
        # except behind a normalization, whose pieces come from its 1/√x units
        if (after_normalization and not scaling) or (scaling and not (after_normalization or _static_scalar_only(ctx, node))):
            break
        region.append(node)
        exit_ = ctx.single_output(node)
    return exit_


# ----------------------------------------------------------------- evaluation on the grid


def region_pieces(ctx: _Ctx, region: Sequence[Node], x: str, y: str) -> int | None:
    """Pieces of the fused map x ↦ y: the most over its distinct constant columns."""
    opset = ctx.view.opset
    constants = chain_constants(region, ctx.is_data, ctx.view.value, opset, ctx.view.constants.raw)
    if constants is None:
        return None
    dims, settings = ctx.t(x).dims, ctx.settings

    def fit() -> int | None:
        columns, _, count = chain_columns(as_arrays(constants), dims, MAX_COLUMNS)
        shapes = _Shapes(settings.tolerance)
        most = 0
        for start in range(0, count, COLUMN_BATCH):  # a batch at a time: 4096 columns of the grid are 0.5 GB
            grid, out = evaluate_columns(region, x, y, {k: v[start:start + COLUMN_BATCH] for k, v in columns.items()},
                                         settings.domain, opset)
            if not np.all(np.isfinite(out)):
                return None
            for j in shapes.new_columns(out, grid):
                most = max(most, segment_count(out[:, j], grid, settings.tolerance))
        return most

    signature = chain_signature(region, x, y, constants, dims, opset)
    if signature is None:
        return fit()
    return remembered((signature, settings.tolerance, settings.domain, GRID_POINTS), fit)


class _Shapes:
    """The shapes of the columns segmented so far. A column's shape is its values with the
    end-to-end chord taken away: columns that differ by a linear function of x (exp(x) − c·x for
    each c) have the same chords' errors, hence the same segmentation; only a column whose shape
    is new (more than 10⁻⁶ ε from every shape seen) needs segmenting."""

    SAMPLE = 256  # every SAMPLE-th grid point, rounded to 10⁻³ ε, makes a shape's quick key

    def __init__(self, tolerance: float) -> None:
        self.tolerance = tolerance
        self.seen: dict[bytes, list[np.ndarray]] = {}  # quick key -> the shapes with that key

    def new_columns(self, values: np.ndarray, grid: np.ndarray) -> list[int]:
        """Indices of the columns of `values` (G × columns) whose shape is new; records them."""
        rows = values.T  # a row per column (contiguous as `evaluate_columns` makes them)
        shapes = rows - (rows[:, :1] + (rows[:, -1:] - rows[:, :1]) * ((grid - grid[0]) / (grid[-1] - grid[0])))
        keys = np.round(shapes[:, :: self.SAMPLE] / (self.tolerance * 1e-3))
        same = self.tolerance * 1e-6
        new = []
        for j, shape in enumerate(shapes):
            known = self.seen.setdefault(keys[j].tobytes(), [])
            if not any(np.max(np.abs(shape - other)) <= same for other in known):
                known.append(shape)
                new.append(j)
        return new


# ----------------------------------------------------------------- the fusions


def _fuse_softmax(ctx: _Ctx, node: Node) -> Leaf | None:
    if node.op_type != "Exp" or node.domain:
        return None
    e = ctx.single_output(node)
    cons = ctx.consumers(e)
    if len(cons) != 2 or e in ctx.view.outputs:
        return None
    red = next((c for c in cons if c.op_type == "ReduceSum"), None)
    div = next((c for c in cons if c.op_type in ("Div", "Mul")), None)
    if red is None or div is None:
        return None
    axes = _reduce_axes(ctx, red)
    s = ctx.single_output(red)
    members = [node, red]
    if div.op_type == "Div":
        if list(div.inputs[:2]) != [e, s] or len(ctx.consumers(s)) != 1:
            return None
    else:
        rc = ctx.consumers(s)
        if len(rc) != 1 or rc[0].op_type != "Reciprocal":
            return None
        members.append(rc[0])
        r = ctx.single_output(rc[0])
        if set(div.inputs[:2]) != {e, r} or len(ctx.consumers(r)) != 1:
            return None
    members.append(div)
    entry = node.inputs[0]
    sub = ctx.view.producer(entry)
    if sub is not None and sub.op_type == "Sub" and len(ctx.consumers(entry)) == 1:
        mx_name = sub.inputs[1]
        mx = ctx.view.producer(mx_name)
        if mx is not None and mx.op_type == "ReduceMax" and mx.inputs[0] == sub.inputs[0] and len(ctx.consumers(mx_name)) == 1:
            if _reduce_axes(ctx, mx) == axes:
                members = [mx, sub] + members
                entry = sub.inputs[0]
    if axes is None or any(m.index in ctx.claimed for m in members):
        return None
    dims = ctx.t(entry).dims
    n = math.prod(dims[a] for a in axes)
    y = ctx.single_output(div)
    return Leaf(div.name, "Softmax", "", (entry,), (y,), tuple(members), {"axis": axes[-1], "vector_size": n}, node_scope(div), "softmax")


def _fuse_region(ctx: _Ctx, x: str) -> Leaf | None:
    """(a) unary chains and (c) normalizations from a multi-use data tensor `x`."""
    found = _sese_region(ctx, x, allow_reduce=True)
    if found is None:
        return None
    region, y = found
    # the mean subtraction converges on the centred tensor before the normalization does: go on from there
    while _centring(region) and len(ctx.consumers(y)) >= 2:
        more = _sese_region(ctx, y, allow_reduce=True)
        if more is None:
            break
        region, y = region + more[0], more[1]
    if ctx.t(y).shape != ctx.t(x).shape:
        return None
    reductions = [n for n in region if n.op_type in REDUCTIONS]
    if reductions:
        ops = {n.op_type for n in region}
        if "ReduceMax" in ops or "Exp" in ops or not (ops & {"Sqrt", "Pow", "Reciprocal"}):
            return None
        axes = {_reduce_axes(ctx, n) for n in reductions}
        if len(axes) != 1:
            return None
        (axes,) = axes
        y = _extend_forward(ctx, region, y, after_normalization=True)
        dims = ctx.t(x).dims
        n = math.prod(dims[a] for a in axes)
        last = region[-1]
        return Leaf(last.name, "LayerNormalization", "", (x,), (y,), tuple(region), {"normalized_size": n}, node_scope(last), "normalization")
    y = _extend_forward(ctx, region, y, after_normalization=False)
    nonlinear = [n for n in region if not ctx.affine(n)]
    if not nonlinear:
        return None
    return _unary_leaf(ctx, region, x, y)


def _centring(region: Sequence[Node]) -> bool:
    """A region holding statistics (a mean) but no √ or power yet: x − mean(x)."""
    ops = {n.op_type for n in region}
    return bool(ops & REDUCTIONS) and not ops & {"Sqrt", "Pow", "Reciprocal", "Exp"}


def _fuse_chain(ctx: _Ctx, node: Node) -> Leaf | None:
    """(a) single-use chains holding two or more nonlinear ops (e.g. Log(1 + Exp(x)))."""
    if ctx.affine(node) or not node.inputs or not node.inputs[0] or not _is_elementwise(ctx, node, ctx.t(node.inputs[0]).shape):
        return None
    if len(ctx.data_inputs(node)) != 1 or not _static_scalar_only(ctx, node):
        return None
    region = [node]
    y = _extend_forward(ctx, region, ctx.single_output(node), after_normalization=False)
    if sum(1 for n in region if not ctx.affine(n)) < 2:
        return None
    return _unary_leaf(ctx, region, ctx.data_inputs(node)[0], y)


def _unary_leaf(ctx: _Ctx, region: list[Node], x: str, y: str) -> Leaf | None:
    """The fused unary leaf x ↦ y, its pieces from the grid; exact when every member is PWL or
    affine and no member multiplies data by data (x·f(x) is not piecewise linear)."""
    p = region_pieces(ctx, region, x, y)
    if p is None:
        return None
    exact = all(_can_be_exact(n, ctx.view.opset) for n in region) and not any(
        ctx.role(n) == "scaling" and len(ctx.data_inputs(n)) > 1 for n in region
    )
    last = region[-1]
    return Leaf(last.name, "FusedUnary", FUSED_DOMAIN, (x,), (y,), tuple(region), {"pieces": p, "exact": exact}, node_scope(last), "unary")


def _can_be_exact(node: Node, opset: int) -> bool:
    """PWL, affine or structural (Mul, Div: linear with a static operand) by its entry's kind."""
    return any(k in EXACT_KINDS for k in elementwise_entry(node, opset).kind.split("|"))


def build_leaves(view: GraphView, settings: Settings, fusions: Sequence[str] = FUSIONS) -> list[Leaf]:
    """Leaves in topological order, with SPEC §4 fusions applied."""
    nodes = data_nodes(view)
    if not fusions:
        return [plain_leaf(n) for n in nodes]
    ctx = _Ctx(view, settings, {})
    fused: list[Leaf] = []

    def claim(leaf: Leaf | None) -> None:
        if leaf is None or any(m.index in ctx.claimed for m in leaf.members):
            return
        for m in leaf.members:
            ctx.claimed[m.index] = len(fused)
        fused.append(leaf)

    for node in nodes:
        if "softmax" in fusions:
            claim(_fuse_softmax(ctx, node))
    if "unary" in fusions or "normalization" in fusions:
        # from every multi-use data tensor in topological order: the sources (graph inputs) first,
        # so a region starting at one is found whole before a region inside it
        starts = [src.name for src in view.sources]
        starts += [out for node in nodes for out in node.outputs if out and ctx.is_data(out) and out not in starts]
        for x in starts:
            if len(ctx.consumers(x)) >= 2 and ctx.t(x).shape is not None:
                leaf = _fuse_region(ctx, x)
                if leaf is not None and leaf.fused in fusions:
                    claim(leaf)
    if "unary" in fusions:
        for node in nodes:
            if node.index not in ctx.claimed:
                claim(_fuse_chain(ctx, node))

    # emit in topological order: a fused leaf takes the place of its last member (found once per leaf)
    lasts = [_last(view, leaf) for leaf in fused]
    leaves: list[Leaf] = []
    for node in nodes:
        k = ctx.claimed.get(node.index)
        if k is None:
            leaves.append(plain_leaf(node))
        elif lasts[k] == node.index:
            leaves.append(fused[k])
    return leaves


def _last(view: GraphView, leaf: Leaf) -> int:
    """The member that comes last in topological order."""
    pos = view.positions
    return max(leaf.members, key=lambda m: pos[m.index]).index
