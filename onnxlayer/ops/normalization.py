"""Normalizations and softmax (SPEC §2): 1/√x units per normalised group, max+exp units."""
from __future__ import annotations

import math

from ..registry import LeafContext, groups, linear, register
from ..transfer import LTA


def normalization(ctx: LeafContext, group_count: int) -> LTA:
    """G normalised groups: G units of 1/√x, rank ≤ size − 2G (mean and scale removed)."""
    size = ctx.out_size()
    return LTA("normalization", groups((group_count, ctx.pieces("rsqrt"))), max(size - 2 * group_count, 0), False)


@register("BatchNormalization", kind="linear")
def batch_norm(ctx: LeafContext) -> LTA:
    """inference-mode batch norm is a per-channel affine map"""
    return linear(ctx.out_size())


@register("LayerNormalization", kind="normalization", exact=False)
def layer_norm(ctx: LeafContext) -> LTA:
    """normalises over axes [axis, rank): G = size / n"""
    dims = ctx.in_dims(0)
    if "normalized_size" in ctx.leaf.attrs:  # a fused decomposition (SPEC §4 c)
        n = int(ctx.leaf.attrs["normalized_size"])
    else:
        axis = int(ctx.attr("axis", -1)) % len(dims)
        n = math.prod(dims[axis:])
    return normalization(ctx, ctx.out_size() // n if n else 0)


@register("SkipLayerNormalization", "SimplifiedLayerNormalization", "SkipSimplifiedLayerNormalization",
          domain="com.microsoft", kind="normalization", exact=False)
def ms_layer_norm(ctx: LeafContext) -> LTA:
    """onnxruntime contrib layer norms over the last axis"""
    n = ctx.in_dims(0)[-1]
    return normalization(ctx, ctx.out_size() // n if n else 0)


@register("RMSNormalization", since=23, kind="normalization", exact=False)
def rms_norm(ctx: LeafContext) -> LTA:
    """x/rms(x) over [axis, rank): G units of 1/√x, rank ≤ size − G (only scale removed)"""
    dims = ctx.in_dims(0)
    axis = int(ctx.attr("axis", -1)) % len(dims)
    g = ctx.out_size() // math.prod(dims[axis:])
    return LTA("normalization", groups((g, ctx.pieces("rsqrt"))), ctx.out_size() - g, False)


@register("InstanceNormalization", kind="normalization", exact=False)
def instance_norm(ctx: LeafContext) -> LTA:
    """normalises each (sample, channel): G = N·C"""
    dims = ctx.in_dims(0)
    return normalization(ctx, dims[0] * dims[1])


@register("GroupNormalization", since=18, kind="normalization", exact=False)
def group_norm(ctx: LeafContext) -> LTA:
    """normalises num_groups channel groups per sample: G = N·num_groups"""
    dims = ctx.in_dims(0)
    return normalization(ctx, dims[0] * int(ctx.attr("num_groups")))


@register("MeanVarianceNormalization", kind="normalization", exact=False)
def mvn(ctx: LeafContext) -> LTA:
    """normalises over `axes` (default N, H, W)"""
    dims = ctx.in_dims(0)
    axes = [int(a) % len(dims) for a in (ctx.attr("axes") or [0, 2, 3])]
    n = math.prod(dims[a] for a in axes)
    return normalization(ctx, ctx.out_size() // n if n else 0)


@register("LRN", kind="normalization", exact=False)
def lrn(ctx: LeafContext) -> LTA:
    """x/(k + α/n·Σx²)^β: a square and a power unit per element"""
    size = ctx.out_size()
    beta = float(ctx.attr("beta", 0.75))
    return LTA("normalization", groups((size, ctx.pieces("square")), (size, ctx.parametric("pow", -beta))), size, False)


def softmax_axis(ctx: LeafContext) -> tuple[int, int]:
    """(G vectors, n per vector); opset < 13 flattens [axis, rank) into one vector."""
    dims = ctx.in_dims(0)
    if "vector_size" in ctx.leaf.attrs:  # a fused decomposition (SPEC §4 b)
        n = int(ctx.leaf.attrs["vector_size"])
        return (ctx.out_size() // n if n else 0), n
    if ctx.opset < 13:
        axis = int(ctx.attr("axis", 1)) % len(dims)
        n = math.prod(dims[axis:])
    else:
        axis = int(ctx.attr("axis", -1)) % len(dims)
        n = dims[axis]
    return (ctx.out_size() // n if n else 0), n


@register("Softmax", kind="smooth", exact=False)
def softmax(ctx: LeafContext) -> LTA:
    """per vector: a max unit with n pieces, n exp units on [-B, 0]; rank ≤ G·(n−1)"""
    g, n = softmax_axis(ctx)
    return LTA("smooth", groups((g, n), (g * n, ctx.pieces("exp_shifted"))), g * (n - 1), False)


@register("LogSoftmax", kind="smooth", exact=False)
def log_softmax(ctx: LeafContext) -> LTA:
    """softmax's units plus one log unit per vector (log-sum-exp)"""
    g, n = softmax_axis(ctx)
    return LTA("smooth", groups((g, n), (g * n, ctx.pieces("exp_shifted")), (g, ctx.pieces("log"))), g * (n - 1), False)


@register("Hardmax", kind="pwl")
def hardmax(ctx: LeafContext) -> LTA:
    """one-hot of the argmax: n pieces per vector, piecewise constant (rank 0)"""
    g, n = softmax_axis(ctx)
    return LTA("pwl", groups((g, n)), 0, True)
