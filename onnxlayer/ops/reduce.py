"""Reductions, arg-extrema and TopK."""
from __future__ import annotations

import math

from .. import onnxapi
from ..deferred import numpy as np
from ..pattern import (ExtraOutput, GroupPattern, LeafPattern, NotProbed, PatternContext, argmax_pattern, compact, flat,
                       segmentation, sign_pattern, unary_pattern)
from ..registry import SQUARE, LeafContext, groups, products, register
from ..transfer import LTA
from .activations import LOG, SQRT
from .normalization import EXP_SHIFTED


def _window(ctx: LeafContext) -> int:
    out = ctx.out_size()
    return ctx.in_size(0) // out if out else 0


# ----------------------------------------------------------------------------- patterns


def _reduce_axes(ctx: PatternContext) -> list[int]:
    rank = len(ctx.dims_of(ctx.leaf.inputs[0]))
    axes = ctx.attr("axes")
    if axes is None and len(ctx.leaf.inputs) > 1 and ctx.leaf.inputs[1]:
        v = ctx.static(ctx.leaf.inputs[1])
        if v is None:
            raise NotProbed("reduction axes are not static")
        axes = v.reshape(-1).tolist()
    if not axes:
        if ctx.attr("noop_with_empty_axes"):
            raise NotProbed("no reduction")
        axes = list(range(rank))
    return [int(a) for a in axes]


def reduce_extremum_pattern(ctx: PatternContext) -> LeafPattern:
    arg = np.argmax if ctx.leaf.op_type == "ReduceMax" else np.argmin
    return argmax_pattern(ctx, ctx.leaf.inputs[0], _reduce_axes(ctx), ctx.leaf.op_type, arg)


def arg_extremum_pattern(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    arg = np.argmax if ctx.leaf.op_type == "ArgMax" else np.argmin
    return argmax_pattern(ctx, x, [int(ctx.attr("axis"))], ctx.leaf.op_type, arg)


def top_k_pattern(ctx: PatternContext) -> LeafPattern:
    """The indices of the k largest, from the Indices output (added to the node when absent)."""
    node = ctx.leaf.node
    x = ctx.leaf.inputs[0]
    n = ctx.dims_of(x)[int(ctx.attr("axis"))]
    if len(node.outputs) > 1 and node.outputs[1]:
        indices, extras = node.outputs[1], ()
    else:
        indices = f"{ctx.out_name()}::probe_indices"
        extras = (ExtraOutput(node.index, 1, indices, onnxapi.TensorProto.INT64),)
    units = math.prod(ctx.dims_of(ctx.out_name()))
    return ctx.make([GroupPattern(units, n, (), "top-k")], (indices,), lambda f: [compact(flat(f[indices]), n)], extras)


def reduce_l1_pattern(ctx: PatternContext) -> LeafPattern:
    return sign_pattern(ctx, ctx.leaf.inputs[0], label="|x| in a sum", off=())


def reduce_sum_square_pattern(ctx: PatternContext) -> LeafPattern:
    return unary_pattern(ctx, ctx.leaf.inputs[0], segmentation(SQUARE, (), ctx.settings), "x²")


# ----------------------------------------------------------------------------- entries


@register("ReduceSum", "ReduceMean", kind="linear")
def reduce_linear(ctx: LeafContext) -> LTA:
    """sums and means: rank ≤ output size"""
    return ctx.lta((), ctx.out_size())


@register("ReduceMax", "ReduceMin", kind="pwl", pattern=reduce_extremum_pattern)
def reduce_extremum(ctx: LeafContext) -> LTA:
    """max/min over K elements: K pieces per output"""
    out = ctx.out_size()
    return ctx.lta(groups((out, _window(ctx))), out)


@register("ReduceL1", kind="pwl", pattern=reduce_l1_pattern)
def reduce_l1(ctx: LeafContext) -> LTA:
    """Σ|x|: one |x| unit per input element"""
    return ctx.lta(groups((ctx.in_size(0), 2)), ctx.out_size())


@register("ReduceSumSquare", kind="smooth", pattern=reduce_sum_square_pattern)
def reduce_sum_square(ctx: LeafContext) -> LTA:
    """Σx²: one square unit per input element"""
    return ctx.lta(groups((ctx.in_size(0), ctx.pieces(SQUARE))), ctx.out_size())


@register("ReduceL2", kind="smooth", no_pattern="not written yet: the x² units per element and the root of each sum")
def reduce_l2(ctx: LeafContext) -> LTA:
    """√Σx²: squares per element, a root per output"""
    out = ctx.out_size()
    return ctx.lta(groups((ctx.in_size(0), ctx.pieces(SQUARE)), (out, ctx.pieces(SQRT))), out)


@register("ReduceLogSum", kind="smooth", no_pattern="not written yet: the log segment of each sum")
def reduce_log_sum(ctx: LeafContext) -> LTA:
    """log Σx: a log unit per output"""
    out = ctx.out_size()
    return ctx.lta(groups((out, ctx.pieces(LOG))), out)


@register("ReduceLogSumExp", kind="smooth", no_pattern="not written yet: as LogSoftmax's, over the reduced axes")
def reduce_log_sum_exp(ctx: LeafContext) -> LTA:
    """max + log Σ exp(x − max): a max, K exps and a log per output"""
    out, k = ctx.out_size(), _window(ctx)
    return ctx.lta(groups((out, k), (out * k, ctx.pieces(EXP_SHIFTED)), (out, ctx.pieces(LOG))), out)


@register("ReduceProd", kind="product", no_pattern="not written yet: the square units of the K − 1 running products")
def reduce_prod(ctx: LeafContext) -> LTA:
    """Πx over K elements: K − 1 products per output"""
    out, k = ctx.out_size(), _window(ctx)
    return ctx.lta(groups(products(out * max(k - 1, 0), ctx)), out)


@register("ArgMax", "ArgMin", kind="pwl", pattern=arg_extremum_pattern)
def arg_extremum(ctx: LeafContext) -> LTA:
    """index of the max/min of n: n pieces per output, piecewise constant (rank 0)"""
    out = ctx.out_size()
    return ctx.lta(groups((out, _window(ctx))), 0)


@register("TopK", kind="pwl", pattern=top_k_pattern)
def top_k(ctx: LeafContext) -> LTA:
    """k largest of n: each selected value is a max over n (n pieces)"""
    dims = ctx.in_dims(0)
    n = dims[ctx.axis(ctx.attr("axis"), len(dims))]
    out = ctx.out_size(0)
    return ctx.lta(groups((out, n)), out)
