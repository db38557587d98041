"""Activation patterns: for each nonlinear leaf, which linear piece every unit is on.

A pattern rule maps a leaf to the tensors it needs and a function from their values
(each (B, *per-sample dims)) to integer codes, one array (B, units) per unit group of the
leaf's LTA (SPEC §2): Relu its sign, MaxPool the argmax position in the window, Clip which
of its three pieces, Max/Min which operand wins, a smooth unary leaf the index of the
fitted chord segment its input falls on (SPEC §2's greedy segmentation of the domain;
values outside the domain count in the end pieces), Softmax the argmax and the exp
segments, normalizations the 1/√x segment of the variance, products the x² segments of
x + y and x − y. Two inputs have the same pattern for a leaf exactly when every unit of
the leaf is on the same piece.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np
import onnx

from ..fusion import ELEMENTWISE, FUSED_DOMAIN, chain_constants, evaluate_chain
from ..ops.conv import pad_begin
from ..graph import DATA, GraphView
from ..registry import Leaf, LeafContext
from ..transfer import FUNCTIONS, GRID_POINTS, LTA, Settings, chord_breaks
from .engine import ExtraOutput

Codes = Callable[[Mapping[str, np.ndarray]], list[np.ndarray]]
#: Elements per chunk of the piece lookups (fits in cache).
CHUNK = 1 << 16
#: Products of two data tensors are probed up to this many square units per sample.
MAX_PRODUCT_UNITS = 1 << 24


class NotProbed(Exception):
    """The leaf has units but no pattern rule applies (the reason is reported)."""


@dataclass(frozen=True)
class GroupPattern:
    """One unit group as the probe sees it: `pieces` codes 0..pieces−1, `off` the zero-slope ones."""

    units: int
    pieces: int
    off: tuple[int, ...] = ()
    label: str = ""


@dataclass
class LeafPattern:
    index: int
    leaf: Leaf
    groups: tuple[GroupPattern, ...]
    tensors: tuple[str, ...]
    codes: Codes
    extras: tuple[ExtraOutput, ...] = ()
    note: str = ""

    @property
    def units(self) -> int:
        return sum(g.units for g in self.groups)


# ----------------------------------------------------------------------------- chord segmentation


@dataclass(frozen=True)
class Segmentation:
    """A fitted scalar map's pieces on the uniform grid over [lo, hi]: breakpoint grid indices
    per distinct constant column (`column[u]` for unit u; None: one column for all units)."""

    lo: float
    hi: float
    breaks: tuple[np.ndarray, ...]
    column: np.ndarray | None = None
    tables: list = field(default_factory=list, compare=False, repr=False)

    @property
    def pieces(self) -> int:
        return max(len(b) for b in self.breaks) + 1

    def points(self, c: int = 0) -> np.ndarray:
        """The breakpoints as values."""
        return self.lo + (self.hi - self.lo) * self.breaks[c] / (GRID_POINTS - 1)

    def _table(self) -> np.ndarray:
        """(columns, GRID_POINTS + 1): the piece of a value in grid cell g − 1 (cell −1: below lo)."""
        if not self.tables:
            dtype = np.uint8 if self.pieces <= 256 else np.uint16
            t = np.zeros((len(self.breaks), GRID_POINTS + 1), dtype=dtype)
            for c, b in enumerate(self.breaks):
                marks = np.zeros(GRID_POINTS + 1, dtype=np.int64)
                np.add.at(marks, b + 1, 1)  # values at or past break point b are beyond it
                t[c] = np.cumsum(marks)
            self.tables.append(t)
        return self.tables[0]

    def index(self, z: np.ndarray) -> np.ndarray:
        """Piece index of each value of z (B, units); outside the domain: the end pieces.

        A lookup on the fitting grid (the breakpoints are grid points), in float32: the
        cell of a value is off by at most ~0.002 of a grid step (2e-6 at B = 8). Rows go
        in cache-sized chunks (twice as fast as whole-array passes)."""
        table = self._table()
        step = (GRID_POINTS - 1) / (self.hi - self.lo)
        scale, shift = np.float32(step), np.float32(1.0 - self.lo * step)
        z = np.asarray(z)
        out = np.empty(z.shape, dtype=table.dtype)
        rows = max(1, CHUNK // max(z.shape[1], 1))
        cell = np.empty((min(rows, z.shape[0]), z.shape[1]), dtype=np.float32)
        for start in range(0, z.shape[0], rows):
            part = z[start : start + rows]
            c = cell[: part.shape[0]]
            # grid cell + 1 of each value, clipped to [0, GRID_POINTS] (0: below lo)
            np.multiply(part, scale, out=c, casting="unsafe")
            c += shift
            np.clip(c, 0.0, float(GRID_POINTS), out=c)
            g = c.astype(np.intp)  # truncation is floor for non-negative values
            if self.column is None:
                np.take(table[0], g, out=out[start : start + rows])
            else:
                out[start : start + rows] = table[self.column[None, :], g]
        return out


def segmentation_of(fn: Callable[[np.ndarray], np.ndarray], lo: float, hi: float, tolerance: float) -> Segmentation:
    grid = np.linspace(lo, hi, GRID_POINTS)
    with np.errstate(all="ignore"):
        values = np.broadcast_to(np.asarray(fn(grid), dtype=np.float64), grid.shape)
    return Segmentation(lo, hi, (chord_breaks(values, grid, tolerance),))


def named_segmentation(name: str, settings: Settings) -> Segmentation:
    f = FUNCTIONS[name]
    lo, hi = f.domain(settings.domain)
    return segmentation_of(f.fn, lo, hi, settings.tolerance)


# ----------------------------------------------------------------------------- context


class PatternContext(LeafContext):
    """A rule's view of its leaf: attributes, shapes, static values of the runnable model."""

    def __init__(self, index: int, leaf: Leaf, view: GraphView, settings: Settings, lta: LTA,
                 statics: Mapping[str, np.ndarray]) -> None:
        super().__init__(leaf, view, settings)
        self.index = index
        self.lta = lta
        self.statics = statics

    def dims_of(self, name: str) -> tuple[int, ...]:
        return self.view.tensors[name].dims

    def data_names(self) -> list[str]:
        return [n for n in dict.fromkeys(self.leaf.inputs) if n and self.view.tensors[n].role == DATA]

    def static(self, name: str) -> np.ndarray | None:
        if not name:
            return None
        if name in self.statics:
            return np.asarray(self.statics[name])
        v = self.view.value(name)
        return None if v is None else np.asarray(v)

    def out_name(self) -> str:
        return self.leaf.outputs[0]

    def make(self, groups: Sequence[GroupPattern], tensors: Sequence[str], codes: Codes,
             extras: Sequence[ExtraOutput] = (), note: str = "") -> LeafPattern:
        want = sum(g.units for g in self.lta.groups)
        got = sum(g.units for g in groups)
        if want and got != want and not note:
            note = f"probes {got} units where the LTA counts {want}"
        return LeafPattern(self.index, self.leaf, tuple(groups), tuple(dict.fromkeys(tensors)), codes, tuple(extras), note)


RULES: dict[tuple[str, str], Callable[[PatternContext], LeafPattern]] = {}


def rule(*op_types: str, domain: str = ""):
    def decorate(fn):
        for op in op_types:
            RULES[(domain, op)] = fn
        return fn

    return decorate


def compact(codes: np.ndarray, pieces: int) -> np.ndarray:
    """Smallest unsigned dtype holding the codes (patterns are stored for bisection)."""
    if codes.dtype == np.bool_:
        return codes.view(np.uint8)
    if pieces <= 256:
        return codes.astype(np.uint8)
    if pieces <= 65536:
        return codes.astype(np.uint16)
    return codes.astype(np.int64)


def flat(a: np.ndarray) -> np.ndarray:
    return a.reshape(a.shape[0], -1)


def broadcast_pair(x: np.ndarray, y: np.ndarray, out_dims: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    b = max(x.shape[0], y.shape[0])
    shape = (b,) + tuple(out_dims)
    return np.broadcast_to(x, shape), np.broadcast_to(y, shape)


def _batched_static(value: np.ndarray, rank: int) -> np.ndarray:
    """A static operand aligned with (B, *dims) arrays (numpy broadcasting from the right)."""
    v = np.asarray(value, dtype=np.float64)
    return v.reshape((1,) * (rank + 1 - v.ndim) + v.shape) if v.ndim <= rank else v


# ----------------------------------------------------------------------------- exact PWL leaves


def _sign_rule(ctx: PatternContext, name: str, threshold: float = 0.0, label: str = "", off: tuple[int, ...] = (0,)) -> LeafPattern:
    """Two pieces split at `threshold`; code 1 above it. `off`: the zero-slope piece, if any."""
    units = math.prod(ctx.dims_of(name))
    return ctx.make([GroupPattern(units, 2, off, label or ctx.leaf.op_type)], (name,),
                    lambda f: [compact(flat(f[name]) > threshold, 2)])


@rule("Relu")
def relu(ctx: PatternContext) -> LeafPattern:
    # max(x, 0) > 0 exactly when x > 0: the output carries the sign, and exposing it keeps
    # onnxruntime's Conv+Relu fusion
    return _sign_rule(ctx, ctx.out_name(), label="relu")


@rule("LeakyRelu")
def leaky_relu(ctx: PatternContext) -> LeafPattern:
    name = ctx.out_name() if float(ctx.attr("alpha", 0.01)) >= 0 else ctx.data_names()[0]
    g = GroupPattern(math.prod(ctx.dims_of(name)), 2, (), "leaky relu")
    return ctx.make([g], (name,), lambda f: [compact(flat(f[name]) > 0, 2)])


@rule("PRelu")
def prelu(ctx: PatternContext) -> LeafPattern:
    slope = ctx.static(ctx.leaf.inputs[1])
    name = ctx.out_name() if slope is not None and np.all(slope >= 0) else ctx.leaf.inputs[0]
    g = GroupPattern(math.prod(ctx.dims_of(ctx.out_name())), 2, (), "prelu")
    x_dims = ctx.dims_of(ctx.out_name())
    return ctx.make([g], (name,), lambda f: [compact(flat(np.broadcast_to(f[name], f[name].shape[:1] + x_dims)) > 0, 2)])


@rule("Abs")
def absolute(ctx: PatternContext) -> LeafPattern:
    return _sign_rule(ctx, ctx.leaf.inputs[0], label="abs", off=())


@rule("ThresholdedRelu")
def thresholded_relu(ctx: PatternContext) -> LeafPattern:
    return _sign_rule(ctx, ctx.leaf.inputs[0], float(ctx.attr("alpha", 1.0)), "thresholded relu")


def _three_pieces(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below lo, 2 above hi, 1 in between (for outputs: exact equality with a bound)."""
    codes = np.ones(z.shape, dtype=np.uint8)
    codes[z <= lo] = 0
    codes[z >= hi] = 2
    return codes


@rule("Clip")
def clip(ctx: PatternContext) -> LeafPattern:
    if ctx.opset < 11:
        lo, hi = ctx.attr("min", None), ctx.attr("max", None)
        known = True
    else:
        names = [ctx.leaf.inputs[i] if len(ctx.leaf.inputs) > i else "" for i in (1, 2)]
        values = [ctx.static(n) if n else None for n in names]
        known = all(not n or v is not None for n, v in zip(names, values))
        lo, hi = [None if v is None else float(np.asarray(v).reshape(-1)[0]) for v in values]
    y = ctx.out_name()
    units = math.prod(ctx.dims_of(y))
    if known:
        lo = -np.inf if lo is None else float(lo)
        hi = np.inf if hi is None else float(hi)
        pieces = 1 + (lo > -np.inf) + (hi < np.inf)
        # the output equals a bound exactly where it is clamped
        return ctx.make([GroupPattern(units, 3, (0, 2), "clip")], (y,), lambda f: [_three_pieces(flat(f[y]), lo, hi)],
                        note="" if pieces == 3 else f"clip with {pieces} pieces")
    x = ctx.leaf.inputs[0]

    def codes(f):
        xv, yv = flat(f[x]), flat(f[y])
        c = np.ones(xv.shape, dtype=np.uint8)
        c[yv > xv] = 0
        c[yv < xv] = 2
        return [c]

    return ctx.make([GroupPattern(units, 3, (0, 2), "clip")], (x, y), codes)


@rule("HardSigmoid")
def hard_sigmoid(ctx: PatternContext) -> LeafPattern:
    y = ctx.out_name()
    return ctx.make([GroupPattern(math.prod(ctx.dims_of(y)), 3, (0, 2), "hard sigmoid")], (y,),
                    lambda f: [_three_pieces(flat(f[y]), 0.0, 1.0)])


@rule("Shrink")
def shrink(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    lam = float(ctx.attr("lambd", 0.5))

    def codes(f):
        z = flat(f[x])
        c = np.ones(z.shape, dtype=np.uint8)
        c[z < -lam] = 0
        c[z > lam] = 2
        return [c]

    return ctx.make([GroupPattern(math.prod(ctx.dims_of(x)), 3, (1,), "shrink")], (x,), codes)


@rule("Max", "Min")
def max_min(ctx: PatternContext) -> LeafPattern:
    y = ctx.out_name()
    out_dims = ctx.dims_of(y)
    data = ctx.data_names()
    statics = [ctx.static(n) for n in ctx.leaf.inputs if n and n not in data]
    if any(s is None for s in statics):
        raise NotProbed("a static operand's value is unknown")
    pick = np.maximum if ctx.leaf.op_type == "Max" else np.minimum
    const = pick.reduce([_batched_static(s, len(out_dims)) for s in statics]) if statics else None
    operands = len(data) + (const is not None)
    choose = np.argmax if ctx.leaf.op_type == "Max" else np.argmin

    def codes(f):
        b = f[data[0]].shape[0]
        shape = (b,) + out_dims
        parts = [np.broadcast_to(f[n], shape) for n in data]
        if const is not None:
            parts.append(np.broadcast_to(const, shape))
        return [compact(flat(choose(np.stack(parts), axis=0)), operands)]

    return ctx.make([GroupPattern(math.prod(out_dims), operands, (), ctx.leaf.op_type.lower())], data, codes)


@rule("MaxPool")
def max_pool(ctx: PatternContext) -> LeafPattern:
    """The argmax position in each window, from onnxruntime's Indices output (added to the
    node when absent): the cheapest way measured (numpy over strided windows costs more)."""
    x, y = ctx.leaf.inputs[0], ctx.out_name()
    node = ctx.leaf.node
    in_dims, out_dims = ctx.dims_of(x), ctx.dims_of(y)
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    nd = len(kernel)
    strides = tuple(int(s) for s in (ctx.attr("strides", None) or [1] * nd))
    dil = tuple(int(d) for d in (ctx.attr("dilations", None) or [1] * nd))
    spatial_in, spatial_out = in_dims[2:], out_dims[2:]
    window = math.prod(kernel)
    if len(node.outputs) > 1 and node.outputs[1]:
        indices, extras = node.outputs[1], ()
    else:
        indices = f"{y}::probe_indices"
        extras = (ExtraOutput(node.index, 1, indices, onnx.TensorProto.INT64),)
    storage = int(ctx.attr("storage_order", 0))
    begins = [pad_begin(ctx, a, spatial_in[a], spatial_out[a], kernel[a], strides[a], dil[a]) for a in range(nd)]
    channels = math.prod(in_dims[:2])
    plane = math.prod(spatial_in)
    # flat strides of the spatial axes (row major, or column major with storage_order 1)
    flat_stride, acc = [0] * nd, 1
    for a in (range(nd - 1, -1, -1) if not storage else range(nd)):
        flat_stride[a] = acc
        acc *= spatial_in[a]
    # index − (flat index of the window's origin) names the position in the window; a
    # lookup table turns it into 0..K−1 when those differences are distinct
    grids = np.indices(spatial_out).reshape(nd, -1)
    origin_flat = sum((grids[a] * strides[a] - begins[a]) * flat_stride[a] for a in range(nd))
    channel_base = (np.arange(channels)[:, None] * plane + origin_flat[None, :]).reshape(-1)
    rel = np.indices(kernel).reshape(nd, -1)
    offsets = sum(rel[a] * dil[a] * flat_stride[a] for a in range(nd))
    lut = np.full(int(offsets.max()) + 1, window, dtype=np.uint16 if window < 65535 else np.int64)
    lut[offsets] = np.arange(window)
    distinct = len(set(offsets.tolist())) == window
    block = channels * plane

    def codes(f):
        idx = flat(f[indices])
        if distinct:
            diff = np.subtract(idx, channel_base)
            diff -= (idx[:, :1] // block) * block  # the sample's offset in a batched run
            # one pass for both bounds: negative differences become huge as unsigned
            if np.less(diff.view(np.uint64), lut.size).all():
                code = lut[diff]
                if not np.any(code == window):
                    return [compact(code, window)]
        return [idx.astype(np.int64)]  # an index convention we do not know: compare raw indices

    units = math.prod(out_dims)
    return ctx.make([GroupPattern(units, window, (), f"max over {window}")], (indices,), codes, extras)


def _argmax_over(ctx: PatternContext, x: str, axes: Sequence[int], label: str, arg=np.argmax) -> LeafPattern:
    dims = ctx.dims_of(x)
    rank = len(dims)
    axes = sorted({int(a) % rank for a in axes})
    keep = [a for a in range(rank) if a not in axes]
    n = math.prod(dims[a] for a in axes)
    groups_count = math.prod(dims[a] for a in keep)

    def codes(f):
        v = f[x]
        b = v.shape[0]
        moved = np.transpose(v, [0] + [a + 1 for a in keep] + [a + 1 for a in axes]).reshape(b, groups_count, n)
        return [compact(arg(moved, axis=-1), n)]

    return ctx.make([GroupPattern(groups_count, n, (), label)], (x,), codes)


def _reduce_axes(ctx: PatternContext) -> list[int]:
    rank = len(ctx.dims_of(ctx.leaf.inputs[0]))
    axes = ctx.attr("axes", None)
    if axes is None and len(ctx.leaf.inputs) > 1 and ctx.leaf.inputs[1]:
        v = ctx.static(ctx.leaf.inputs[1])
        if v is None:
            raise NotProbed("reduction axes are not static")
        axes = v.reshape(-1).tolist()
    if not axes:
        if int(ctx.attr("noop_with_empty_axes", 0)):
            raise NotProbed("no reduction")
        axes = list(range(rank))
    return [int(a) for a in axes]


@rule("GlobalMaxPool")
def global_max_pool(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    return _argmax_over(ctx, x, range(2, len(ctx.dims_of(x))), "global max")


@rule("ReduceMax", "ReduceMin")
def reduce_extremum(ctx: PatternContext) -> LeafPattern:
    arg = np.argmax if ctx.leaf.op_type == "ReduceMax" else np.argmin
    return _argmax_over(ctx, ctx.leaf.inputs[0], _reduce_axes(ctx), ctx.leaf.op_type, arg)


@rule("ArgMax", "ArgMin")
def arg_extremum(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    axis = int(ctx.attr("axis", 0))
    arg = np.argmax if ctx.leaf.op_type == "ArgMax" else np.argmin
    return _argmax_over(ctx, x, [axis], ctx.leaf.op_type, arg)


@rule("TopK")
def top_k(ctx: PatternContext) -> LeafPattern:
    node = ctx.leaf.node
    x = ctx.leaf.inputs[0]
    n = ctx.dims_of(x)[int(ctx.attr("axis", -1))]
    if len(node.outputs) > 1 and node.outputs[1]:
        indices, extras = node.outputs[1], ()
    else:
        indices = f"{ctx.out_name()}::probe_indices"
        extras = (ExtraOutput(node.index, 1, indices, onnx.TensorProto.INT64),)
    units = math.prod(ctx.dims_of(ctx.out_name()))
    return ctx.make([GroupPattern(units, n, (), "top-k")], (indices,), lambda f: [compact(flat(f[indices]), n)], extras)


@rule("ReduceL1")
def reduce_l1(ctx: PatternContext) -> LeafPattern:
    return _sign_rule(ctx, ctx.leaf.inputs[0], label="|x| in a sum", off=())


# ----------------------------------------------------------------------------- smooth leaves


UNARY_FUNCTIONS = {
    "Sigmoid": "sigmoid", "Tanh": "tanh", "Softplus": "softplus", "Softsign": "softsign", "Mish": "mish",
    "HardSwish": "hardswish", "Erf": "erf", "Exp": "exp", "Log": "log", "Sqrt": "sqrt",
    "Reciprocal": "reciprocal", "Sin": "sin", "Cos": "cos",
}
#: Activations with attributes: fitted on [-B, B] with their own semantics (as `parametric_pieces`).
PARAMETRIC = frozenset({"Elu", "Selu", "Celu", "Swish"})


def _unary(ctx: PatternContext, x: str, seg: Segmentation, label: str) -> LeafPattern:
    units = math.prod(ctx.dims_of(x))
    pieces = seg.pieces
    return ctx.make([GroupPattern(units, pieces, (), label)], (x,), lambda f: [compact(seg.index(flat(f[x])), pieces)])


#: Strictly increasing activations: the piece of x is the piece of f(x) among the images of
#: the breakpoints, so the probe reads the output and onnxruntime keeps Conv+activation fused.
INCREASING = frozenset({"Sigmoid", "Tanh", "Softsign", "Erf", "Exp", "Softplus", "Log", "Sqrt"})


def _through_output(ctx: PatternContext, seg: Segmentation, fn: Callable[[np.ndarray], np.ndarray], label: str) -> LeafPattern:
    y = ctx.out_name()
    with np.errstate(all="ignore"):
        images = np.asarray(fn(seg.points()), dtype=np.float64).astype(np.float32)
    if not (np.all(np.isfinite(images)) and np.all(np.diff(images) > 0)):
        return _unary(ctx, ctx.leaf.inputs[0], seg, label)  # images collide in float32: read the input
    units = math.prod(ctx.dims_of(y))
    pieces = seg.pieces

    def codes(f):
        v = flat(f[y])
        out = np.zeros(v.shape, dtype=np.uint8 if pieces <= 256 else np.uint16)
        rows = max(1, CHUNK // max(v.shape[1], 1))
        for start in range(0, v.shape[0], rows):
            part, acc = v[start : start + rows], out[start : start + rows]
            for image in images:  # pieces at or above each breakpoint's image
                acc += part >= image
        return [out]

    return ctx.make([GroupPattern(units, pieces, (), label)], (y,), codes)


@rule(*UNARY_FUNCTIONS, *PARAMETRIC)
def smooth_unary(ctx: PatternContext) -> LeafPattern:
    op = ctx.leaf.op_type
    x = ctx.leaf.inputs[0]
    if op in UNARY_FUNCTIONS:
        name = UNARY_FUNCTIONS[op]
        seg = named_segmentation(name, ctx.settings)
        if op in INCREASING and seg.pieces <= 32:
            return _through_output(ctx, seg, FUNCTIONS[name].fn, name)
        return _unary(ctx, x, seg, name)
    node = ctx.leaf.node
    b = ctx.settings.domain
    seg = segmentation_of(lambda g: ELEMENTWISE[op](node, [g]), -b, b, ctx.settings.tolerance)
    return _unary(ctx, x, seg, op.lower())


@rule("Gelu")
def gelu(ctx: PatternContext) -> LeafPattern:
    form = "gelu_tanh" if ctx.attr("approximate", "none") == "tanh" else "gelu"
    return _unary(ctx, ctx.leaf.inputs[0], named_segmentation(form, ctx.settings), form)


@rule("Gelu", domain="com.microsoft")
def ms_gelu(ctx: PatternContext) -> LeafPattern:
    return _unary(ctx, ctx.leaf.inputs[0], named_segmentation("gelu", ctx.settings), "gelu")


@rule("FastGelu", domain="com.microsoft")
def ms_fast_gelu(ctx: PatternContext) -> LeafPattern:
    return _unary(ctx, ctx.leaf.inputs[0], named_segmentation("gelu_tanh", ctx.settings), "gelu_tanh")


@rule("Pow")
def power(ctx: PatternContext) -> LeafPattern:
    if ctx.is_data(1):
        raise NotProbed("data exponent")
    e = ctx.static(ctx.leaf.inputs[1])
    if e is None or e.size != 1:
        raise NotProbed("exponent is not one static value")
    e = float(e.reshape(()))
    if e in (0.0, 1.0):
        raise NotProbed("affine power")
    b = ctx.settings.domain
    if e.is_integer() and e >= 0:
        lo, hi = -b, b
    else:
        lo, hi = (1.0 / b, b) if e < 0 else (0.0, b)
    seg = segmentation_of(lambda g: np.power(g, e), lo, hi, ctx.settings.tolerance)
    return _unary(ctx, ctx.leaf.inputs[0], seg, f"x^{e:g}")


@rule("FusedUnary", domain=FUSED_DOMAIN)
def fused_unary(ctx: PatternContext) -> LeafPattern:
    """The fused chain evaluated on the grid, per distinct column of its constants (as fusion does)."""
    x, y = ctx.leaf.inputs[0], ctx.leaf.outputs[0]
    members = ctx.leaf.members
    constants = chain_constants(members, lambda i: ctx.view.tensors[i].role == DATA, ctx.static)
    if constants is None:
        raise NotProbed("a constant of the fused chain is unknown")
    grid, out, column = evaluate_chain(members, x, y, constants, ctx.dims_of(x), ctx.settings.domain)
    b = ctx.settings.domain
    if not np.all(np.isfinite(out)):
        raise NotProbed("the fused chain is not finite on the domain")
    breaks = tuple(chord_breaks(out[:, j], grid, ctx.settings.tolerance) for j in range(out.shape[1]))
    seg = Segmentation(-b, b, breaks, column)
    label = "·".join(m.op_type for m in ctx.leaf.members)
    return _unary(ctx, x, seg, f"fused {label}")


# ----------------------------------------------------------------------------- softmax, norms, products


def _softmax_layout(ctx: PatternContext, x: str) -> tuple[int, int]:
    """(first axis, last axis) of the softmax vectors in the per-sample dims."""
    dims = ctx.dims_of(x)
    rank = len(dims)
    if "vector_size" in ctx.leaf.attrs:
        n = int(ctx.leaf.attrs["vector_size"])
        last = int(ctx.leaf.attrs.get("axis", rank - 1)) % rank
        first = last
        while first > 0 and math.prod(dims[first:last + 1]) < n:
            first -= 1
        if math.prod(dims[first:last + 1]) != n:
            raise NotProbed("softmax vectors are not contiguous axes")
        return first, last
    if ctx.opset < 13:
        return int(ctx.attr("axis", 1)) % rank, rank - 1
    a = int(ctx.attr("axis", -1)) % rank
    return a, a


def _vectors(v: np.ndarray, first: int, last: int) -> np.ndarray:
    """(B, pre, n, post) view of per-sample arrays with the vector axes in the middle."""
    b = v.shape[0]
    dims = v.shape[1:]
    return v.reshape(b, math.prod(dims[:first]), math.prod(dims[first:last + 1]), math.prod(dims[last + 1:]))


@rule("Softmax", "LogSoftmax")
def softmax(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    first, last = _softmax_layout(ctx, x)
    dims = ctx.dims_of(x)
    n = math.prod(dims[first:last + 1])
    g = math.prod(dims) // n
    exp_seg = named_segmentation("exp_shifted", ctx.settings)
    groups = [GroupPattern(g, n, (), f"max over {n}"), GroupPattern(g * n, exp_seg.pieces, (), "exp")]
    log_seg = named_segmentation("log", ctx.settings) if ctx.leaf.op_type == "LogSoftmax" else None
    if log_seg is not None:
        groups.append(GroupPattern(g, log_seg.pieces, (), "log"))

    def codes(f):
        v = _vectors(f[x].astype(np.float64), first, last)
        b = v.shape[0]
        top = v.max(axis=2, keepdims=True)
        out = [compact(np.argmax(v, axis=2).reshape(b, -1), n), compact(exp_seg.index((v - top).reshape(b, -1)), exp_seg.pieces)]
        if log_seg is not None:
            out.append(compact(log_seg.index(np.exp(v - top).sum(axis=2).reshape(b, -1)), log_seg.pieces))
        return out

    return ctx.make(groups, (x,), codes)


@rule("Hardmax")
def hardmax(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    first, last = _softmax_layout(ctx, x)
    return _argmax_over(ctx, x, range(first, last + 1), "hardmax")


def _norm_pattern(ctx: PatternContext, x: str, axes: Sequence[int], eps: float, centred: bool = True,
                  groups_of: int | None = None) -> LeafPattern:
    """Piece of 1/√(var + ε) per normalised group, on the rsqrt fit over [1/B, B]."""
    dims = ctx.dims_of(x)
    rank = len(dims)
    seg = named_segmentation("rsqrt", ctx.settings)
    if groups_of is not None:  # GroupNormalization: (1, G, C/G · spatial)
        count = groups_of

        def stat(v):
            b = v.shape[0]
            w = v.reshape(b, count, -1)
            m = w.mean(axis=-1, keepdims=True) if centred else 0.0
            return ((w - m) ** 2).mean(axis=-1)
    else:
        axes = sorted({int(a) % rank for a in axes})
        keep = [a for a in range(rank) if a not in axes]
        count = math.prod(dims[a] for a in keep)
        n = math.prod(dims[a] for a in axes)

        def stat(v):
            b = v.shape[0]
            w = np.transpose(v, [0] + [a + 1 for a in keep] + [a + 1 for a in axes]).reshape(b, count, n)
            m = w.mean(axis=-1, keepdims=True) if centred else 0.0
            return ((w - m) ** 2).mean(axis=-1)

    return ctx.make([GroupPattern(count, seg.pieces, (), "1/sqrt")], (x,),
                    lambda f: [compact(seg.index(stat(f[x].astype(np.float64)) + eps), seg.pieces)])


@rule("LayerNormalization")
def layer_norm(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    rank = len(ctx.dims_of(x))
    if "normalized_size" in ctx.leaf.attrs:  # fused decomposition: axes of its first mean
        mean = next((m for m in ctx.leaf.members if m.op_type == "ReduceMean"), None)
        axes = None
        if mean is not None:
            axes = mean.attr("axes")
            if axes is None and len(mean.inputs) > 1 and mean.inputs[1]:
                v = ctx.static(mean.inputs[1])
                axes = None if v is None else v.reshape(-1).tolist()
        if axes is None:
            raise NotProbed("the fused normalization's axes are unknown")
        return _norm_pattern(ctx, x, axes, 0.0)
    axis = int(ctx.attr("axis", -1)) % rank
    return _norm_pattern(ctx, x, range(axis, rank), float(ctx.attr("epsilon", 1e-5)))


@rule("RMSNormalization")
def rms_norm(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    rank = len(ctx.dims_of(x))
    axis = int(ctx.attr("axis", -1)) % rank
    return _norm_pattern(ctx, x, range(axis, rank), float(ctx.attr("epsilon", 1e-5)), centred=False)


@rule("InstanceNormalization")
def instance_norm(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    return _norm_pattern(ctx, x, range(2, len(ctx.dims_of(x))), float(ctx.attr("epsilon", 1e-5)))


@rule("GroupNormalization")
def group_norm(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    return _norm_pattern(ctx, x, (), float(ctx.attr("epsilon", 1e-5)), groups_of=int(ctx.attr("num_groups")))


def _square_codes(seg: Segmentation, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    b = x.shape[0]
    return compact(np.concatenate([seg.index((x + y).reshape(b, -1)), seg.index((x - y).reshape(b, -1))], axis=1), seg.pieces)


@rule("Mul")
def mul(ctx: PatternContext) -> LeafPattern:
    data = ctx.data_names()
    if len([i for i in ctx.leaf.inputs[:2] if ctx.view.tensors[i].role == DATA]) < 2:
        raise NotProbed("linear")
    seg = named_segmentation("square", ctx.settings)
    y_dims = ctx.dims_of(ctx.out_name())
    if len(data) == 1:  # x·x: one square unit per element
        x = data[0]
        return _unary(ctx, x, seg, "x²")
    a, b = data

    def codes(f):
        xa, xb = broadcast_pair(f[a], f[b], y_dims)
        return [_square_codes(seg, xa.astype(np.float64), xb.astype(np.float64))]

    return ctx.make([GroupPattern(2 * math.prod(y_dims), seg.pieces, (), "x² of x±y")], (a, b), codes)


@rule("Div")
def div(ctx: PatternContext) -> LeafPattern:
    if not ctx.is_data(1):
        raise NotProbed("linear")
    a, d = ctx.leaf.inputs[0], ctx.leaf.inputs[1]
    rec = named_segmentation("reciprocal", ctx.settings)
    d_units = math.prod(ctx.dims_of(d))
    if not ctx.is_data(0) or a == d:
        return _unary(ctx, d, rec, "1/x")
    sq = named_segmentation("square", ctx.settings)
    y_dims = ctx.dims_of(ctx.out_name())

    def codes(f):
        inv = 1.0 / f[d].astype(np.float64)
        xa, xb = broadcast_pair(f[a].astype(np.float64), inv, y_dims)
        return [compact(rec.index(flat(f[d])), rec.pieces), _square_codes(sq, xa, xb)]

    groups = [GroupPattern(d_units, rec.pieces, (), "1/x"), GroupPattern(2 * math.prod(y_dims), sq.pieces, (), "x² of x±y")]
    return ctx.make(groups, (a, d), codes)


@rule("MatMul")
def matmul(ctx: PatternContext) -> LeafPattern:
    if not (ctx.is_data(0) and ctx.is_data(1)):
        raise NotProbed("linear")
    a, b = ctx.leaf.inputs[0], ctx.leaf.inputs[1]
    da, db = ctx.dims_of(a), ctx.dims_of(b)
    if len(da) < 2 or len(db) < 2:
        raise NotProbed("vector operand")
    y_dims = ctx.dims_of(ctx.out_name())
    k = da[-1]
    units = 2 * math.prod(y_dims) * k
    if units > MAX_PRODUCT_UNITS:
        raise NotProbed(f"{units} product units per sample exceed the probe's limit of {MAX_PRODUCT_UNITS}")
    seg = named_segmentation("square", ctx.settings)

    def codes(f):
        x = f[a].astype(np.float64)[..., :, :, None]  # (B, ..., M, K, 1)
        y = f[b].astype(np.float64)[..., None, :, :]  # (B, ..., 1, K, N)
        shape = np.broadcast_shapes(x.shape, y.shape)
        return [_square_codes(seg, np.broadcast_to(x, shape), np.broadcast_to(y, shape))]

    return ctx.make([GroupPattern(units, seg.pieces, (), "x² of x±y")], (a, b), codes)


@rule("ReduceSumSquare")
def reduce_sum_square(ctx: PatternContext) -> LeafPattern:
    return _unary(ctx, ctx.leaf.inputs[0], named_segmentation("square", ctx.settings), "x²")


# ----------------------------------------------------------------------------- lookup


def leaf_pattern(index: int, leaf: Leaf, view: GraphView, settings: Settings, lta: LTA,
                 statics: Mapping[str, np.ndarray]) -> LeafPattern | None:
    """The leaf's pattern rule applied; None for leaves without units; NotProbed with a reason otherwise."""
    if not lta.groups:
        return None
    fn = RULES.get((leaf.domain if leaf.domain not in ("", "ai.onnx") else "", leaf.op_type))
    if fn is None:
        raise NotProbed(f"no pattern rule for {leaf.op_type}")
    try:
        return fn(PatternContext(index, leaf, view, settings, lta, statics))
    except NotProbed:
        raise
    except Exception as exc:  # a rule meeting attributes it cannot read: report, don't guess
        raise NotProbed(f"pattern rule failed: {type(exc).__name__}: {exc}") from None
