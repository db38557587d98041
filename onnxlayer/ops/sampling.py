"""Spatial sampling and detection: GridSample, AffineGrid, RoiAlign, MaxRoiPool, NonMaxSuppression.

Where a location is data (a sampling grid, regions of interest), interpolation multiplies data
by data: the weights of each tap are products (SPEC §2's square units); where it is static, the
op is linear in the image. Integer selections (rounded positions, kept box indices) are
piecewise constant and add no pieces of their own beyond the comparisons counted.
"""
from __future__ import annotations

import math

from ..registry import LeafContext, groups, products, register
from ..transfer import LTA

#: Interpolation taps per spatial axis of each sampling mode (opset 16 names and opset 20 names).
TAPS = {"nearest": 1, "linear": 2, "bilinear": 2, "cubic": 4, "bicubic": 4}


@register("GridSample", kind="linear|product", no_pattern="not written yet: the interpolation products at each grid point")
def grid_sample(ctx: LeafContext) -> LTA:
    """X sampled at a grid: linear in X for a static grid; a data grid: taps^r products per output"""
    spatial = len(ctx.in_dims(0)) - 2
    taps = TAPS[str(ctx.attr("mode"))] ** spatial
    out = ctx.out_size()
    if ctx.is_data(1) and taps > 1:
        return ctx.lta(groups(products(out * taps, ctx)), out, kind="product", note=f"{taps} interpolation taps per output")
    return ctx.lta((), min(out, ctx.in_size(0)) if ctx.is_data(0) else 0, kind="linear")


@register("AffineGrid", kind="linear")
def affine_grid(ctx: LeafContext) -> LTA:
    """the grid θ·(u, v, 1): linear in θ, rank ≤ min(θ size, out size)"""
    return ctx.lta((), min(ctx.data_in_size, ctx.out_size()))


def _bins(ctx: LeafContext, height: int, width: int) -> tuple[int, int]:
    """Input rows and columns one output bin can span: those of an ROI covering the whole map."""
    h, w = ctx.in_dims(0)[2:4]
    return min(h, math.ceil(h / height) + 1), min(w, math.ceil(w / width) + 1)


@register("RoiAlign", kind="linear|pwl|product",
          no_pattern="not written yet: the sample points of each bin and, for max, the largest")
def roi_align(ctx: LeafContext) -> LTA:
    """bilinear samples in each bin, averaged or maxed: data ROIs make 4 products per sample; max: one piece per sample"""
    out = ctx.out_size()
    ratio = int(ctx.attr("sampling_ratio"))
    height, width = int(ctx.attr("output_height")), int(ctx.attr("output_width"))
    rows, cols = (ratio, ratio) if ratio > 0 else _bins(ctx, height, width)  # adaptive: ⌈roi/bins⌉, at most this
    samples = rows * cols
    pieces = (out, samples) if ctx.attr("mode") == "max" else (0, 0)
    rank = min(out, ctx.in_size(0))
    if ctx.is_data(1):
        return ctx.lta(groups(pieces, products(4 * out * samples, ctx)), out, kind="product")
    return ctx.lta(groups(pieces), rank if ctx.is_data(0) else 0, kind="pwl" if pieces[0] else "linear")


@register("MaxRoiPool", kind="pwl", no_pattern="not written yet: the argmax in each ROI bin")
def max_roi_pool(ctx: LeafContext) -> LTA:
    """max over each bin of an ROI: the pieces of a bin spanning ⌈H/h⌉+1 × ⌈W/w⌉+1 positions (an ROI over the whole map)"""
    height, width = (int(d) for d in ctx.attr("pooled_shape"))
    rows, cols = _bins(ctx, height, width)
    out = ctx.out_size()
    return ctx.lta(groups((out, rows * cols)), min(out, ctx.in_size(0)) if ctx.is_data(0) else 0)


@register("NonMaxSuppression", kind="quantizer",
          no_pattern="not written yet: the outcome of each score order, score threshold and overlap test")
def non_max_suppression(ctx: LeafContext) -> LTA:
    """kept box indices (integers, rank 0): n(n−1)/2 overlap tests of data boxes; per class, n(n−1)/2 orders and n thresholds of data scores"""
    batches, n = ctx.in_dims(0)[0], ctx.in_dims(0)[1]
    classes = ctx.in_dims(1)[1]
    pairs = n * (n - 1) // 2
    overlaps = pairs if ctx.is_data(0) else 0  # the boxes are shared by the classes
    orders = (pairs + (n if ctx.has_input(4) else 0)) if ctx.is_data(1) else 0
    tests = batches * (overlaps + classes * orders)
    return ctx.lta(groups((tests, 2)), 0, note="each test a threshold of 2 pieces (overlap tests are curved: approximate)")
