"""Reductions, arg-extrema and TopK."""
from __future__ import annotations

from ..registry import LeafContext, groups, linear, products, register
from ..transfer import LTA


def _window(ctx: LeafContext) -> int:
    out = ctx.out_size()
    return ctx.in_size(0) // out if out else 0


@register("ReduceSum", "ReduceMean", kind="linear")
def reduce_linear(ctx: LeafContext) -> LTA:
    """sums and means: rank ≤ output size"""
    return linear(ctx.out_size())


@register("ReduceMax", "ReduceMin", kind="pwl")
def reduce_extremum(ctx: LeafContext) -> LTA:
    """max/min over K elements: K pieces per output"""
    out = ctx.out_size()
    return LTA("pwl", groups((out, _window(ctx))), out, True)


@register("ReduceL1", kind="pwl")
def reduce_l1(ctx: LeafContext) -> LTA:
    """Σ|x|: one |x| unit per input element"""
    return LTA("pwl", groups((ctx.in_size(0), 2)), ctx.out_size(), True)


@register("ReduceSumSquare", kind="smooth", exact=False)
def reduce_sum_square(ctx: LeafContext) -> LTA:
    """Σx²: one square unit per input element"""
    return LTA("smooth", groups((ctx.in_size(0), ctx.pieces("square"))), ctx.out_size(), False)


@register("ReduceL2", kind="smooth", exact=False)
def reduce_l2(ctx: LeafContext) -> LTA:
    """√Σx²: squares per element, a root per output"""
    out = ctx.out_size()
    return LTA("smooth", groups((ctx.in_size(0), ctx.pieces("square")), (out, ctx.pieces("sqrt"))), out, False)


@register("ReduceLogSum", kind="smooth", exact=False)
def reduce_log_sum(ctx: LeafContext) -> LTA:
    """log Σx: a log unit per output"""
    out = ctx.out_size()
    return LTA("smooth", groups((out, ctx.pieces("log"))), out, False)


@register("ReduceLogSumExp", kind="smooth", exact=False)
def reduce_log_sum_exp(ctx: LeafContext) -> LTA:
    """max + log Σ exp(x − max): a max, K exps and a log per output"""
    out, k = ctx.out_size(), _window(ctx)
    return LTA("smooth", groups((out, k), (out * k, ctx.pieces("exp_shifted")), (out, ctx.pieces("log"))), out, False)


@register("ReduceProd", kind="product", exact=False)
def reduce_prod(ctx: LeafContext) -> LTA:
    """Πx over K elements: K − 1 products per output"""
    out, k = ctx.out_size(), _window(ctx)
    return LTA("product", groups(products(out * max(k - 1, 0), ctx)), out, False)


@register("ArgMax", "ArgMin", kind="pwl")
def arg_extremum(ctx: LeafContext) -> LTA:
    """index of the max/min of n: n pieces per output, piecewise constant (rank 0)"""
    out = ctx.out_size()
    return LTA("pwl", groups((out, _window(ctx))), 0, True)


@register("TopK", kind="pwl")
def top_k(ctx: LeafContext) -> LTA:
    """k largest of n: each selected value is a max over n (n pieces)"""
    axis = int(ctx.attr("axis", -1))
    n = ctx.in_dims(0)[axis]
    out = ctx.out_size(0)
    return LTA("pwl", groups((out, n)), out, True)
