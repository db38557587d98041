"""Convolutions and pooling (SPEC §2 rank caps with N_used, MACs)."""
from __future__ import annotations

import math

from .. import onnxapi
from ..deferred import numpy as np
from ..pattern import ExtraOutput, GroupPattern, LeafPattern, PatternContext, argmax_pattern, compact, flat
from ..registry import LeafContext, groups, products, register
from ..transfer import LTA
from .activations import POWER

#: Beyond this input length, coverage is bounded arithmetically instead of by a mask.
_MASK_LIMIT = 1 << 24


def pad_begin(ctx: LeafContext, axis: int, n_in: int, n_out: int, k: int, s: int, d: int) -> int:
    """Padding before the first element along `axis` (explicit pads or auto_pad)."""
    auto_pad = ctx.attr("auto_pad")
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
    mask = bytearray(n_in)
    for j in range(k):  # kernel tap j reads positions i·s − pad_begin + j·d, i < n_out: a strided slice
        offset = j * d - pad_begin
        first = max(0, -(offset // s))  # the first window whose tap is at or after position 0
        last = min(n_out - 1, (n_in - 1 - offset) // s)  # the last whose tap is before n_in
        if first <= last:
            mask[first * s + offset:last * s + offset + 1:s] = b"\x01" * (last - first + 1)
    return mask.count(1)


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
    g = int(ctx.attr("group"))
    kernel = tuple(ctx.attr("kernel_shape") or w[2:])
    batch, c_in = x[0], x[1]
    c_out = y[1]
    out_spatial = math.prod(y[2:])
    macs = ctx.out_size() * (c_in // g) * math.prod(kernel)
    n_used = used_positions(ctx, kernel)
    cap = batch * g * min((c_out // g) * out_spatial, (c_in // g) * n_used)
    if ctx.is_data(1):
        return ctx.lta(groups(products(macs, ctx)), ctx.out_size(), kind="product", macs=macs, note="convolution with data weights")
    return ctx.lta((), cap, macs=macs)


@register("ConvTranspose", kind="linear")
def conv_transpose(ctx: LeafContext) -> LTA:
    """rank ≤ min(in size, out size); MACs = in size · C_out/g · k"""
    w = ctx.in_dims(1)
    macs = ctx.in_size(0) * w[1] * math.prod(w[2:])
    return ctx.lta((), min(ctx.in_size(0), ctx.out_size()), macs=macs)


def _pool_cap(ctx: LeafContext, kernel: tuple[int, ...]) -> int:
    x = ctx.in_dims(0)
    return min(ctx.out_size(), x[0] * x[1] * used_positions(ctx, kernel))


def max_pool_pattern(ctx: PatternContext) -> LeafPattern:
    """The argmax position in each window, from onnxruntime's Indices output (added to the
    node when absent): the cheapest way measured (numpy over strided windows costs more)."""
    x, y = ctx.leaf.inputs[0], ctx.out_name()
    node = ctx.leaf.node
    in_dims, out_dims = ctx.dims_of(x), ctx.dims_of(y)
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    nd = len(kernel)
    strides = tuple(int(s) for s in (ctx.attr("strides") or [1] * nd))
    dil = tuple(int(d) for d in (ctx.attr("dilations") or [1] * nd))
    spatial_in, spatial_out = in_dims[2:], out_dims[2:]
    window = math.prod(kernel)
    if len(node.outputs) > 1 and node.outputs[1]:
        indices, extras = node.outputs[1], ()
    else:
        indices = f"{y}::probe_indices"
        extras = (ExtraOutput(node.index, 1, indices, onnxapi.TensorProto.INT64),)
    storage = bool(ctx.attr("storage_order"))  # absent before opset 8: row major
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


@register("MaxPool", kind="pwl", pattern=max_pool_pattern)
def max_pool(ctx: LeafContext) -> LTA:
    """max over a window of K elements: K pieces per output"""
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    return ctx.lta(groups((ctx.out_size(), math.prod(kernel))), _pool_cap(ctx, kernel))


@register("AveragePool", kind="linear")
def average_pool(ctx: LeafContext) -> LTA:
    """window mean: rank ≤ min(out size, C·N_used)"""
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    return ctx.lta((), _pool_cap(ctx, kernel))


@register("GlobalAveragePool", kind="linear")
def global_average_pool(ctx: LeafContext) -> LTA:
    """spatial mean: rank ≤ output size"""
    return ctx.lta((), ctx.out_size())


def global_max_pool_pattern(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    return argmax_pattern(ctx, x, range(2, len(ctx.dims_of(x))), "global max")


@register("GlobalMaxPool", kind="pwl", pattern=global_max_pool_pattern)
def global_max_pool(ctx: LeafContext) -> LTA:
    """max over H·W: H·W pieces per output"""
    window = math.prod(ctx.in_dims(0)[2:])
    return ctx.lta(groups((ctx.out_size(), window)), ctx.out_size())


def _lp(ctx: LeafContext, window: int, rank_cap: int) -> LTA:
    p = float(ctx.attr("p"))
    out = ctx.out_size()
    power = ctx.pieces(POWER, p) if p != 1 else 2  # |x|^p; p = 1 is |x|: 2 pieces
    root = ctx.pieces(POWER, 1.0 / p) if p != 1 else 1
    return ctx.lta(groups((out * window, power), (out, root)), rank_cap, note=f"L{p:g} norm per window")


LP_NO_PATTERN = "not written yet: the |x|^p units per window element and the root per output"


@register("LpPool", kind="smooth", no_pattern=LP_NO_PATTERN)
def lp_pool(ctx: LeafContext) -> LTA:
    """(Σ|x|^p)^(1/p) per window: power units per element, a root per output"""
    kernel = tuple(int(k) for k in ctx.attr("kernel_shape"))
    return _lp(ctx, math.prod(kernel), _pool_cap(ctx, kernel))


@register("GlobalLpPool", kind="smooth", no_pattern=LP_NO_PATTERN)
def global_lp_pool(ctx: LeafContext) -> LTA:
    """(Σ|x|^p)^(1/p) over H·W"""
    return _lp(ctx, math.prod(ctx.in_dims(0)[2:]), ctx.out_size())


@register("MaxUnpool", kind="structural")
def max_unpool(ctx: LeafContext) -> LTA:
    """scatters the pooled values to their indices, zeros elsewhere: rank ≤ min(in size, out size)"""
    return ctx.lta((), min(ctx.in_size(0), ctx.out_size()))


@register("DeformConv", kind="linear|product",
          no_pattern="not written yet: the bilinear sampling products at the offset positions")
def deform_conv(ctx: LeafContext) -> LTA:
    """Conv sampling X at data offsets: 2^r products per sampled value (bilinear), one more with a data mask; MACs as Conv"""
    x, w = ctx.in_dims(0), ctx.in_dims(1)
    g = int(ctx.attr("group"))
    kernel = tuple(ctx.attr("kernel_shape") or w[2:])
    taps = math.prod(kernel)
    out_spatial = math.prod(ctx.out_dims(0)[2:])
    macs = ctx.out_size() * (x[1] // g) * taps
    samples = x[0] * x[1] * taps * out_spatial  # each input channel at each tap of each output position
    count = (2 ** len(kernel) * samples if ctx.is_data(2) else 0) + (samples if ctx.is_data(4) else 0)
    count += macs if ctx.is_data(1) else 0
    if count == 0:  # fixed offsets: a convolution
        return ctx.lta((), min(ctx.out_size(), ctx.data_in_size), kind="linear", macs=macs)
    return ctx.lta(groups(products(count, ctx)), ctx.out_size(), kind="product", macs=macs)
