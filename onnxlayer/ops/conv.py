"""Convolutions and pooling (SPEC §2 rank caps with N_used, MACs)."""
from __future__ import annotations

import math

import numpy as np

from ..registry import LeafContext, groups, linear, products, register
from ..transfer import LTA

#: Beyond this input length, coverage is bounded arithmetically instead of by a mask.
_MASK_LIMIT = 1 << 24


def pad_begin(ctx: LeafContext, axis: int, n_in: int, n_out: int, k: int, s: int, d: int) -> int:
    """Padding before the first element along `axis` (explicit pads or auto_pad)."""
    auto_pad = ctx.attr("auto_pad", "NOTSET")
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        total = max((n_out - 1) * s + (k - 1) * d + 1 - n_in, 0)
        return total // 2 if auto_pad == "SAME_UPPER" else total - total // 2
    if auto_pad == "VALID":
        return 0
    pads = ctx.attr("pads") or []
    return int(pads[axis]) if axis < len(pads) else 0


def covered(n_in: int, n_out: int, k: int, s: int, d: int, pad_begin: int) -> int:
    """Input positions along one axis covered by at least one kernel window."""
    if n_out <= 0 or n_in <= 0:
        return 0
    if d == 1 and s <= k:  # windows overlap or touch: one contiguous run
        lo = max(0, -pad_begin)
        hi = min(n_in, (n_out - 1) * s - pad_begin + k)
        return max(0, hi - lo)
    if n_in > _MASK_LIMIT:
        return min(n_in, n_out * k)
    mask = np.zeros(n_in, dtype=bool)
    starts = np.arange(n_out, dtype=np.int64) * s - pad_begin
    for j in range(k):
        pos = starts + j * d
        pos = pos[(pos >= 0) & (pos < n_in)]
        mask[pos] = True
    return int(mask.sum())


def used_positions(ctx: LeafContext, kernel: tuple[int, ...]) -> int:
    """N_used: input positions (product over spatial axes) that some window covers."""
    in_spatial = ctx.in_dims(0)[2:]
    out_spatial = ctx.out_dims(0)[2:]
    strides = ctx.attr("strides") or [1] * len(kernel)
    dilations = ctx.attr("dilations") or [1] * len(kernel)
    total = 1
    for axis, (n_in, n_out, k) in enumerate(zip(in_spatial, out_spatial, kernel)):
        s, d = int(strides[axis]), int(dilations[axis])
        total *= covered(n_in, n_out, int(k), s, d, pad_begin(ctx, axis, n_in, n_out, int(k), s, d))
    return total


@register("Conv", kind="linear")
def conv(ctx: LeafContext) -> LTA:
    """Σ_g min(C_out/g·H_out·W_out, C_in/g·N_used); MACs = out·C_in/g·k"""
    x, w = ctx.in_dims(0), ctx.in_dims(1)
    y = ctx.out_dims(0)
    g = int(ctx.attr("group", 1))
    kernel = tuple(ctx.attr("kernel_shape") or w[2:])
    batch, c_in = x[0], x[1]
    c_out = y[1]
    out_spatial = math.prod(y[2:])
    macs = ctx.out_size() * (c_in // g) * math.prod(kernel)
    n_used = used_positions(ctx, kernel)
    cap = batch * g * min((c_out // g) * out_spatial, (c_in // g) * n_used)
    if ctx.is_data(1):
        return LTA("product", groups(products(macs, ctx)), ctx.out_size(), False, macs=macs, note="convolution with data weights")
    return linear(cap, macs=macs)


@register("ConvTranspose", kind="linear")
def conv_transpose(ctx: LeafContext) -> LTA:
    """rank ≤ min(in size, out size); MACs = in size · C_out/g · k"""
    w = ctx.in_dims(1)
    macs = ctx.in_size(0) * w[1] * math.prod(w[2:])
    return linear(min(ctx.in_size(0), ctx.out_size()), macs=macs)


def _pool_cap(ctx: LeafContext, kernel: tuple[int, ...]) -> int:
    x = ctx.in_dims(0)
    return min(ctx.out_size(), x[0] * x[1] * used_positions(ctx, kernel))


@register("MaxPool", kind="pwl")
def max_pool(ctx: LeafContext) -> LTA:
    """max over a window of K elements: K pieces per output"""
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    return LTA("pwl", groups((ctx.out_size(), math.prod(kernel))), _pool_cap(ctx, kernel), True)


@register("AveragePool", kind="linear")
def average_pool(ctx: LeafContext) -> LTA:
    """window mean: rank ≤ min(out size, C·N_used)"""
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    return linear(_pool_cap(ctx, kernel))


@register("GlobalAveragePool", kind="linear")
def global_average_pool(ctx: LeafContext) -> LTA:
    """spatial mean: rank ≤ output size"""
    return linear(ctx.out_size())


@register("GlobalMaxPool", kind="pwl")
def global_max_pool(ctx: LeafContext) -> LTA:
    """max over H·W: H·W pieces per output"""
    window = math.prod(ctx.in_dims(0)[2:])
    return LTA("pwl", groups((ctx.out_size(), window)), ctx.out_size(), True)


def _lp(ctx: LeafContext, window: int, rank_cap: int) -> LTA:
    p = float(ctx.attr("p", 2))
    out = ctx.out_size()
    power = ctx.parametric("pow", p) if p != 1 else 2  # |x|^p; p = 1 is |x|: 2 pieces
    root = ctx.parametric("pow", 1.0 / p) if p != 1 else 1
    return LTA("smooth", groups((out * window, power), (out, root)), rank_cap, False, note=f"L{p:g} norm per window")


@register("LpPool", kind="smooth", exact=False)
def lp_pool(ctx: LeafContext) -> LTA:
    """(Σ|x|^p)^(1/p) per window: power units per element, a root per output"""
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    return _lp(ctx, math.prod(kernel), _pool_cap(ctx, kernel))


@register("GlobalLpPool", kind="smooth", exact=False)
def global_lp_pool(ctx: LeafContext) -> LTA:
    """(Σ|x|^p)^(1/p) over H·W"""
    return _lp(ctx, math.prod(ctx.in_dims(0)[2:]), ctx.out_size())
