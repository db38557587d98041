"""Arithmetic: affine ops, products of data (via squares), Gemm/MatMul/Einsum (SPEC §2)."""
from __future__ import annotations

import math
import re

from ..deferred import numpy as np
from ..pattern import GroupPattern, LeafPattern, NotProbed, PatternContext, Segmentation, compact, flat, segmentation, unary_pattern
from ..registry import SQUARE, Elementwise, LeafContext, groups, products, register
from ..transfer import LTA
from .activations import RECIPROCAL

#: Products of two data tensors are probed up to this many square units per sample.
MAX_PRODUCT_UNITS = 1 << 24


def _sum_rule(ctx: LeafContext) -> LTA:
    """sums and differences: linear, rank ≤ output size"""
    return ctx.lta((), ctx.out_size())


register("Add", kind="linear", elementwise=Elementwise("affine", lambda attr, a: a[0] + a[1]))(_sum_rule)
register("Sub", kind="linear", elementwise=Elementwise("affine", lambda attr, a: a[0] - a[1]))(_sum_rule)
register("Neg", kind="linear", elementwise=Elementwise("affine", lambda attr, a: -a[0]))(_sum_rule)
register("Sum", "Mean", "CumSum", kind="linear")(_sum_rule)


def _distinct_data(ctx: LeafContext) -> list[str]:
    return list(dict.fromkeys(ctx.leaf.inputs[i] for i in ctx.data_inputs))


# ----------------------------------------------------------------------------- patterns of products


def broadcast_pair(x: np.ndarray, y: np.ndarray, out_dims: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    b = max(x.shape[0], y.shape[0])
    shape = (b,) + tuple(out_dims)
    return np.broadcast_to(x, shape), np.broadcast_to(y, shape)


def _square_codes(seg: Segmentation, x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The x² segments of x + y and x − y: the pieces of xy = ((x+y)² − (x−y)²)/4."""
    b = x.shape[0]
    return compact(np.concatenate([seg.index((x + y).reshape(b, -1)), seg.index((x - y).reshape(b, -1))], axis=1), seg.pieces)


def mul_pattern(ctx: PatternContext) -> LeafPattern:
    data = ctx.data_names()
    seg = segmentation(SQUARE, (), ctx.settings)
    y_dims = ctx.dims_of(ctx.out_name())
    if len(data) == 1:  # x·x: one square unit per element
        return unary_pattern(ctx, data[0], seg, "x²")
    a, b = data

    def codes(f):
        xa, xb = broadcast_pair(f[a], f[b], y_dims)
        return [_square_codes(seg, xa.astype(np.float64), xb.astype(np.float64))]

    return ctx.make([GroupPattern(2 * math.prod(y_dims), seg.pieces, (), "x² of x±y")], (a, b), codes)


def div_pattern(ctx: PatternContext) -> LeafPattern:
    a, d = ctx.leaf.inputs[0], ctx.leaf.inputs[1]
    rec = segmentation(RECIPROCAL, (), ctx.settings)
    d_units = math.prod(ctx.dims_of(d))
    if not ctx.is_data(0) or a == d:
        return unary_pattern(ctx, d, rec, "1/x")
    sq = segmentation(SQUARE, (), ctx.settings)
    y_dims = ctx.dims_of(ctx.out_name())

    def codes(f):
        inv = 1.0 / f[d].astype(np.float64)
        xa, xb = broadcast_pair(f[a].astype(np.float64), inv, y_dims)
        return [compact(rec.index(flat(f[d])), rec.pieces), _square_codes(sq, xa, xb)]

    groups_ = [GroupPattern(d_units, rec.pieces, (), "1/x"), GroupPattern(2 * math.prod(y_dims), sq.pieces, (), "x² of x±y")]
    return ctx.make(groups_, (a, d), codes)


def matmul_pattern(ctx: PatternContext) -> LeafPattern:
    a, b = ctx.leaf.inputs[0], ctx.leaf.inputs[1]
    da, db = ctx.dims_of(a), ctx.dims_of(b)
    if len(da) < 2 or len(db) < 2:
        raise NotProbed("vector operand")
    y_dims = ctx.dims_of(ctx.out_name())
    k = da[-1]
    units = 2 * math.prod(y_dims) * k
    if units > MAX_PRODUCT_UNITS:
        raise NotProbed(f"{units} product units per sample exceed the probe's limit of {MAX_PRODUCT_UNITS}")
    seg = segmentation(SQUARE, (), ctx.settings)

    def codes(f):
        x = f[a].astype(np.float64)[..., :, :, None]  # (B, ..., M, K, 1)
        y = f[b].astype(np.float64)[..., None, :, :]  # (B, ..., 1, K, N)
        shape = np.broadcast_shapes(x.shape, y.shape)
        return [_square_codes(seg, np.broadcast_to(x, shape), np.broadcast_to(y, shape))]

    return ctx.make([GroupPattern(units, seg.pieces, (), "x² of x±y")], (a, b), codes)


def max_min_pattern(ctx: PatternContext) -> LeafPattern:
    """Which operand wins; static operands fold into one constant operand."""
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


def _batched_static(value: np.ndarray, rank: int) -> np.ndarray:
    """A static operand aligned with (B, *dims) arrays (numpy broadcasting from the right)."""
    v = np.asarray(value, dtype=np.float64)
    return v.reshape((1,) * (rank + 1 - v.ndim) + v.shape) if v.ndim <= rank else v


# ----------------------------------------------------------------------------- entries


@register("Mul", kind="linear|product", elementwise=Elementwise("scaling", lambda attr, a: a[0] * a[1]), pattern=mul_pattern)
def mul(ctx: LeafContext) -> LTA:
    """linear with a static factor; a product of data as two squares per element"""
    size = ctx.out_size()
    data = _distinct_data(ctx)
    if len(ctx.data_inputs) < 2:
        return ctx.lta((), size, kind="linear")
    if len(data) == 1:  # x·x
        return ctx.lta(groups((size, ctx.pieces(SQUARE))), size, kind="smooth", note="x·x as a square")
    return ctx.lta(groups(products(size, ctx)), size, kind="product")


@register("Div", kind="linear|product", elementwise=Elementwise("scaling", lambda attr, a: a[0] / a[1]), pattern=div_pattern)
def div(ctx: LeafContext) -> LTA:
    """linear with a static divisor; a data divisor becomes 1/b units, then a product"""
    size = ctx.out_size()
    if not ctx.is_data(1):
        return ctx.lta((), size, kind="linear")
    reciprocal = (ctx.in_size(1), ctx.pieces(RECIPROCAL))
    if not ctx.is_data(0) or ctx.leaf.inputs[0] == ctx.leaf.inputs[1]:
        return ctx.lta(groups(reciprocal), size, kind="smooth", note="c/x as reciprocal units")
    return ctx.lta(groups(reciprocal, products(size, ctx)), size, kind="product")


def _extremum(ufunc: str) -> Elementwise:
    """numpy's `ufunc` ("maximum", "minimum") over the broadcast operands."""
    return Elementwise("map", lambda attr, a: getattr(np, ufunc).reduce(np.broadcast_arrays(*a)))


def max_min(ctx: LeafContext) -> LTA:
    """elementwise max/min: one unit per element with one piece per operand"""
    size = ctx.out_size()
    operands = len(_distinct_data(ctx)) + (1 if len(ctx.data_inputs) < len([i for i in ctx.leaf.inputs if i]) else 0)
    if operands < 2:
        return ctx.lta((), size, kind="linear")
    return ctx.lta(groups((size, operands)), size)


register("Max", kind="pwl", elementwise=_extremum("maximum"), pattern=max_min_pattern)(max_min)
register("Min", kind="pwl", elementwise=_extremum("minimum"), pattern=max_min_pattern)(max_min)


@register("MatMul", kind="linear|product", pattern=matmul_pattern)
def matmul(ctx: LeafContext) -> LTA:
    """x·W: rank ≤ rows·min(K, N); data·data: K products per output element"""
    a, b = ctx.in_dims(0), ctx.in_dims(1)
    k = a[-1]
    out = ctx.out_size()
    macs = out * k
    if ctx.is_data(0) and ctx.is_data(1):
        return ctx.lta(groups(products(out * k, ctx)), out, kind="product", macs=macs)
    if ctx.is_data(0) and len(b) <= 2:
        n = b[-1] if len(b) == 2 else 1
        rows = out // n if n else 0
        return ctx.lta((), rows * min(k, n), kind="linear", macs=macs)
    if ctx.is_data(1) and len(a) <= 2:
        m = a[0] if len(a) == 2 else 1
        cols = out // m if m else 0
        return ctx.lta((), cols * min(m, k), kind="linear", macs=macs)
    return ctx.lta((), min(out, ctx.data_in_size), kind="linear", macs=macs)


@register("Gemm", kind="linear|product", no_pattern="not written yet: the products of a Gemm of two data operands")
def gemm(ctx: LeafContext) -> LTA:
    """α·A'·B' + β·C with a static weight: rank ≤ M·min(K, N); MACs M·K·N"""
    a, b = ctx.in_dims(0), ctx.in_dims(1)
    m, k = (a[1], a[0]) if ctx.attr("transA") else (a[0], a[1])
    n = b[0] if ctx.attr("transB") else b[1]
    macs = m * k * n
    if ctx.is_data(0) and ctx.is_data(1):
        return ctx.lta(groups(products(m * n * k, ctx)), m * n, kind="product", macs=macs)
    if ctx.is_data(0):
        return ctx.lta((), m * min(k, n), kind="linear", macs=macs)
    if ctx.is_data(1):
        return ctx.lta((), n * min(m, k), kind="linear", macs=macs)
    return ctx.lta((), ctx.out_size(), kind="linear", macs=macs)  # only the bias C carries data


@register("Einsum", kind="linear|product", no_pattern="not written yet: the products of an einsum contraction of two data operands")
def einsum(ctx: LeafContext) -> LTA:
    """one data operand: linear; two: a product per contracted index per output"""
    out = ctx.out_size()
    data = ctx.data_inputs
    if len(data) < 2 or len([i for i in ctx.leaf.inputs if i]) != 2:
        return ctx.lta((), min(out, ctx.data_in_size), kind="linear")
    equation = str(ctx.attr("equation") or "").replace(" ", "")
    lhs, _, rhs = equation.partition("->")
    terms = lhs.split(",")
    sizes: dict[str, int] = {}
    for term, i in zip(terms, (0, 1)):
        letters = re.sub(r"\.\.\.", "", term)
        dims = ctx.in_dims(i)[-len(letters):] if letters else ()
        sizes.update(zip(letters, dims))
    if not rhs and "->" not in equation:
        counts = {c: lhs.count(c) for c in sizes}
        rhs = "".join(sorted(c for c, n in counts.items() if n == 1))
    contracted = math.prod(sizes[c] for c in sizes if c not in rhs)
    return ctx.lta(groups(products(out * contracted, ctx)), out, kind="product")


@register("CumProd", kind="product", no_pattern="not written yet: the square units of the running products")
def cum_prod(ctx: LeafContext) -> LTA:
    """running products along the axis: n − 1 products per line of n (n − 2 exclusive)"""
    dims = ctx.in_dims(0)
    out = ctx.out_size()
    exclusive = int(bool(ctx.attr("exclusive")))
    axis = ctx.scalar(1)
    n = max(dims) if axis is None else dims[ctx.axis(axis, len(dims))]  # an unknown axis: the longest gives the most
    lines = out // n if n else 0
    cap = out if axis is None else out - exclusive * lines  # exclusive: each line starts with the constant 1
    return ctx.lta(groups(products(lines * max(n - 1 - exclusive, 0), ctx)), cap)


@register("Det", kind="product", no_pattern="not written yet: the pivots' reciprocals and the elimination's products")
def det(ctx: LeafContext) -> LTA:
    """LU elimination of each M×M matrix: M − 1 pivot reciprocals, (M−1)M(M+1)/3 + M − 1 products"""
    m = ctx.in_dims(0)[-1]
    matrices = ctx.out_size()
    if m <= 1:
        return ctx.lta((), matrices, kind="linear", note="the determinant of a 1×1 matrix is its entry")
    count = (m - 1) * m * (m + 1) // 3 + m - 1  # multipliers and updates, then the product of the pivots
    return ctx.lta(groups((matrices * (m - 1), ctx.pieces(RECIPROCAL)), products(matrices * count, ctx)), matrices,
                   note="LU elimination")
