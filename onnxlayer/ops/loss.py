"""Losses: negative log-likelihood and softmax cross-entropy (the target is discrete: a selection)."""
from __future__ import annotations

from ..registry import LeafContext, groups, products, register
from ..transfer import LTA, UnitGroup
from .activations import RECIPROCAL
from .normalization import log_softmax_units


def _weighted(ctx: LeafContext, scores: int, weights: int) -> tuple[tuple[UnitGroup, ...], bool]:
    """The units of −w[target]·x[target] summed or averaged, when the class weights are data: a
    product per selected element, and for a mean a reciprocal of Σw[target] and its product."""
    if not (ctx.is_data(scores) and ctx.is_data(weights)):
        return (), False
    selected = ctx.in_size(scores) // ctx.in_dims(scores)[1]
    mean = ctx.attr("reduction") == "mean"
    return groups(products(selected + int(mean), ctx), (int(mean), ctx.pieces(RECIPROCAL))), True


@register("NegativeLogLikelihoodLoss", kind="linear|product",
          no_pattern="not written yet: the products of data class weights")
def negative_log_likelihood(ctx: LeafContext) -> LTA:
    """−x[target] summed or averaged: linear (the target selects); data class weights add a product per selected element"""
    units, product = _weighted(ctx, 0, 2)
    return ctx.lta(units, ctx.out_size(), kind="product" if product else "linear")


@register("SoftmaxCrossEntropyLoss", kind="smooth",
          no_pattern="not written yet: as LogSoftmax's over the class axis")
def softmax_cross_entropy(ctx: LeafContext) -> LTA:
    """LogSoftmax over the C classes (axis 1), then NegativeLogLikelihoodLoss: rank ≤ G·(C − 1)"""
    n = ctx.in_dims(0)[1]
    g = ctx.in_size(0) // n if n else 0
    units, _ = _weighted(ctx, 0, 2)
    return ctx.lta(log_softmax_units(ctx, g, n) + units, min(g * (n - 1), ctx.data_out_size))
