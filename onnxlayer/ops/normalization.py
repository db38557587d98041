"""Normalizations and softmax (SPEC §2): 1/√x units per normalised group, max+exp units."""
from __future__ import annotations

import math
from typing import Sequence

from ..deferred import numpy as np
from ..pattern import GroupPattern, LeafPattern, NotProbed, PatternContext, argmax_pattern, compact, segmentation
from ..registry import SQUARE, LeafContext, groups, register
from ..transfer import LTA, ScalarFunction, UnitGroup, positive
from .activations import LOG, POWER, RECIPROCAL

#: 1/√x, the unit of a normalised group, fitted on [1/B, B].
RSQRT = ScalarFunction("rsqrt", lambda x: 1.0 / np.sqrt(x), positive)
#: Softmax's exponentials act on max-subtracted inputs, so on [-B, 0].
EXP_SHIFTED = ScalarFunction("exp_shifted", lambda x: np.exp(x), lambda bound: (-bound, 0.0))


def normalization(ctx: LeafContext, group_count: int) -> LTA:
    """G normalised groups: G units of 1/√x, rank ≤ size − 2G (mean and scale removed)."""
    size = ctx.out_size()
    return ctx.lta(groups((group_count, ctx.pieces(RSQRT))), max(size - 2 * group_count, 0))


# ----------------------------------------------------------------------------- patterns


def norm_pattern(ctx: PatternContext, x: str, axes: Sequence[int], eps: float, centred: bool = True,
                 groups_of: int | None = None) -> LeafPattern:
    """Piece of 1/√(var + ε) per normalised group, on the rsqrt fit over [1/B, B]."""
    dims = ctx.dims_of(x)
    rank = len(dims)
    seg = segmentation(RSQRT, (), ctx.settings)
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


def layer_norm_pattern(ctx: PatternContext) -> LeafPattern:
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
        return norm_pattern(ctx, x, axes, 0.0)
    axis = int(ctx.attr("axis")) % rank
    return norm_pattern(ctx, x, range(axis, rank), float(ctx.attr("epsilon")))


def rms_norm_pattern(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    rank = len(ctx.dims_of(x))
    axis = int(ctx.attr("axis")) % rank
    return norm_pattern(ctx, x, range(axis, rank), float(ctx.attr("epsilon")), centred=False)


def instance_norm_pattern(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    return norm_pattern(ctx, x, range(2, len(ctx.dims_of(x))), float(ctx.attr("epsilon")))


def group_norm_pattern(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    return norm_pattern(ctx, x, (), float(ctx.attr("epsilon")), groups_of=int(ctx.attr("num_groups")))


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
    a = int(ctx.attr("axis")) % rank
    return (a, rank - 1) if ctx.opset < 13 else (a, a)


def _vectors(v: np.ndarray, first: int, last: int) -> np.ndarray:
    """(B, pre, n, post) view of per-sample arrays with the vector axes in the middle."""
    b = v.shape[0]
    dims = v.shape[1:]
    return v.reshape(b, math.prod(dims[:first]), math.prod(dims[first:last + 1]), math.prod(dims[last + 1:]))


def softmax_pattern(ctx: PatternContext) -> LeafPattern:
    """The argmax of each vector, the exp segment of each max-subtracted input (LogSoftmax:
    also the log segment of the sum)."""
    x = ctx.leaf.inputs[0]
    first, last = _softmax_layout(ctx, x)
    dims = ctx.dims_of(x)
    n = math.prod(dims[first:last + 1])
    g = math.prod(dims) // n
    exp_seg = segmentation(EXP_SHIFTED, (), ctx.settings)
    groups_ = [GroupPattern(g, n, (), f"max over {n}"), GroupPattern(g * n, exp_seg.pieces, (), "exp")]
    log_seg = segmentation(LOG, (), ctx.settings) if ctx.leaf.op_type == "LogSoftmax" else None
    if log_seg is not None:
        groups_.append(GroupPattern(g, log_seg.pieces, (), "log"))

    def codes(f):
        v = _vectors(f[x].astype(np.float64), first, last)
        b = v.shape[0]
        top = v.max(axis=2, keepdims=True)
        out = [compact(np.argmax(v, axis=2).reshape(b, -1), n), compact(exp_seg.index((v - top).reshape(b, -1)), exp_seg.pieces)]
        if log_seg is not None:
            out.append(compact(log_seg.index(np.exp(v - top).sum(axis=2).reshape(b, -1)), log_seg.pieces))
        return out

    return ctx.make(groups_, (x,), codes)


def hardmax_pattern(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    first, last = _softmax_layout(ctx, x)
    return argmax_pattern(ctx, x, range(first, last + 1), "hardmax")


# ----------------------------------------------------------------------------- entries


@register("BatchNormalization", kind="linear")
def batch_norm(ctx: LeafContext) -> LTA:
    """inference-mode batch norm is a per-channel affine map"""
    return ctx.lta((), ctx.out_size())


@register("LayerNormalization", kind="normalization", pattern=layer_norm_pattern)
def layer_norm(ctx: LeafContext) -> LTA:
    """normalises over axes [axis, rank): G = size / n"""
    dims = ctx.in_dims(0)
    if "normalized_size" in ctx.leaf.attrs:  # a fused decomposition (SPEC §4 c)
        n = int(ctx.leaf.attrs["normalized_size"])
    else:
        axis = ctx.axis(ctx.attr("axis"), len(dims))
        n = math.prod(dims[axis:])
    return normalization(ctx, ctx.out_size() // n if n else 0)


@register("RMSNormalization", since=23, kind="normalization", pattern=rms_norm_pattern)
def rms_norm(ctx: LeafContext) -> LTA:
    """x/rms(x) over [axis, rank): G units of 1/√x, rank ≤ size − G (only scale removed)"""
    dims = ctx.in_dims(0)
    axis = ctx.axis(ctx.attr("axis"), len(dims))
    g = ctx.out_size() // math.prod(dims[axis:])
    return ctx.lta(groups((g, ctx.pieces(RSQRT))), ctx.out_size() - g)


@register("InstanceNormalization", kind="normalization", pattern=instance_norm_pattern)
def instance_norm(ctx: LeafContext) -> LTA:
    """normalises each (sample, channel): G = N·C"""
    dims = ctx.in_dims(0)
    return normalization(ctx, dims[0] * dims[1])


@register("GroupNormalization", since=18, kind="normalization", pattern=group_norm_pattern)
def group_norm(ctx: LeafContext) -> LTA:
    """normalises num_groups channel groups per sample: G = N·num_groups"""
    dims = ctx.in_dims(0)
    return normalization(ctx, dims[0] * int(ctx.attr("num_groups")))


@register("MeanVarianceNormalization", kind="normalization",
          no_pattern="not written yet: the variance over `axes` per group, as for LayerNormalization")
def mvn(ctx: LeafContext) -> LTA:
    """normalises over `axes` (default N, H, W)"""
    dims = ctx.in_dims(0)
    axes = [ctx.axis(a, len(dims)) for a in ctx.attr("axes")]
    n = math.prod(dims[a] for a in axes)
    return normalization(ctx, ctx.out_size() // n if n else 0)


@register("LRN", kind="normalization", no_pattern="not written yet: the square and power units over each channel window")
def lrn(ctx: LeafContext) -> LTA:
    """x/(k + α/n·Σx²)^β: a square and a power unit per element"""
    size = ctx.out_size()
    beta = float(ctx.attr("beta"))
    return ctx.lta(groups((size, ctx.pieces(SQUARE)), (size, ctx.pieces(POWER, -beta))), size)


def vector_norm(ctx: LeafContext, norm: str, n: int) -> LTA:
    """x divided by a norm of each vector of n elements (G = size / n vectors); scale-free, so
    rank ≤ size − G. L2: G units of 1/√x (as RMSNormalization); L1: |x| units and G of 1/x;
    MAX: a max unit of n pieces and G of 1/x."""
    size = ctx.out_size()
    g = size // n if n else 0
    if norm == "L2":
        units = groups((g, ctx.pieces(RSQRT)))
    elif norm == "L1":
        units = groups((size, 2), (g, ctx.pieces(RECIPROCAL)))
    else:
        units = groups((g, n), (g, ctx.pieces(RECIPROCAL)))
    return ctx.lta(units, max(size - g, 0))


@register("LpNormalization", kind="normalization", no_pattern="not written yet: the norm of each vector along `axis`")
def lp_normalization(ctx: LeafContext) -> LTA:
    """x/‖x‖_p along axis: p = 2 as RMSNormalization (G units of 1/√x), p = 1 adds |x| units; rank ≤ size − G"""
    dims = ctx.in_dims(0)
    n = dims[ctx.axis(ctx.attr("axis"), len(dims))]
    return vector_norm(ctx, "L1" if int(ctx.attr("p")) == 1 else "L2", n)


def softmax_axis(ctx: LeafContext) -> tuple[int, int]:
    """(G vectors, n per vector); opset < 13 flattens [axis, rank) into one vector."""
    dims = ctx.in_dims(0)
    if "vector_size" in ctx.leaf.attrs:  # a fused decomposition (SPEC §4 b)
        n = int(ctx.leaf.attrs["vector_size"])
        return (ctx.out_size() // n if n else 0), n
    axis = ctx.axis(ctx.attr("axis"), len(dims))
    n = math.prod(dims[axis:]) if ctx.opset < 13 else dims[axis]
    return (ctx.out_size() // n if n else 0), n


@register("Softmax", kind="smooth", pattern=softmax_pattern)
def softmax(ctx: LeafContext) -> LTA:
    """per vector: a max unit with n pieces, n exp units on [-B, 0]; rank ≤ G·(n−1)"""
    g, n = softmax_axis(ctx)
    return ctx.lta(groups((g, n), (g * n, ctx.pieces(EXP_SHIFTED))), g * (n - 1))


@register("LogSoftmax", kind="smooth", pattern=softmax_pattern)
def log_softmax(ctx: LeafContext) -> LTA:
    """softmax's units plus one log unit per vector (log-sum-exp)"""
    g, n = softmax_axis(ctx)
    return ctx.lta(log_softmax_units(ctx, g, n), g * (n - 1))


def log_softmax_units(ctx: LeafContext, g: int, n: int) -> tuple[UnitGroup, ...]:
    """LogSoftmax's units over G vectors of n: a max of n pieces and n exps per vector, a log per vector."""
    return groups((g, n), (g * n, ctx.pieces(EXP_SHIFTED)), (g, ctx.pieces(LOG)))


@register("Hardmax", kind="pwl", pattern=hardmax_pattern)
def hardmax(ctx: LeafContext) -> LTA:
    """one-hot of the argmax: n pieces per vector, piecewise constant (rank 0)"""
    g, n = softmax_axis(ctx)
    return ctx.lta(groups((g, n)), 0)
