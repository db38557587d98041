"""Integer, boolean, string and random semantics: bit operations, bit casts, strings, text
vectorizers, unique values and random draws.

Integer and boolean results are piecewise constant in the data they come from: rank 0 (as the
comparisons and logic of `shape.py`). Strings and bytes never carry float data; a float tensor
computed from integer or string inputs only starts a source (SPEC §1), and its rule is not read.
"""
from __future__ import annotations

from ..graph import FLOAT_TYPES
from ..registry import LeafContext, groups, register
from ..transfer import LTA


@register("BitShift", "BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitwiseNot", kind="structural")
def bits(ctx: LeafContext) -> LTA:
    """integer bit operations: piecewise constant, rank 0"""
    return ctx.lta((), 0)


@register("BitCast", kind="structural")
def bit_cast(ctx: LeafContext) -> LTA:
    """reinterprets the bits: an integer result is piecewise constant (rank 0); a float one keeps rank ≤ its size"""
    return ctx.lta((), ctx.out_size() if ctx.output(0).elem_type in FLOAT_TYPES else 0)


@register("StringConcat", "StringNormalizer", "StringSplit", "RegexFullMatch", "ImageDecoder", kind="structural")
def text(ctx: LeafContext) -> LTA:
    """strings and encoded bytes: never float data (rank 0)"""
    return ctx.lta((), 0)


@register("TfIdfVectorizer", kind="structural")
def tf_idf(ctx: LeafContext) -> LTA:
    """n-gram counts of integer or string tokens: a source from the inputs (SPEC §1); of integer data, piecewise constant (rank 0)"""
    return ctx.lta((), 0)


@register("Unique", kind="pwl|structural", no_pattern="not written yet: the rank of each value among the input's")
def unique(ctx: LeafContext) -> LTA:
    """sorted distinct values: each an order statistic of n inputs (n pieces, as TopK's); unsorted: a selection"""
    dims = ctx.in_dims(0)
    axis = ctx.attr("axis")
    n = ctx.in_size(0) if axis is None else dims[ctx.axis(axis, len(dims))]
    out = ctx.out_size(0)
    if ctx.attr("sorted"):
        return ctx.lta(groups((out, n)), out, kind="pwl")
    return ctx.lta((), out, kind="structural")


@register("Bernoulli", kind="pwl", no_pattern="random: the threshold each element is compared with is drawn at every run")
def bernoulli(ctx: LeafContext) -> LTA:
    """1 where a uniform draw falls below p: a threshold of 2 pieces per element (its ONNX body's Less), rank 0"""
    return ctx.lta(groups((ctx.out_size(), 2)), 0)


@register("Multinomial", kind="quantizer", no_pattern="random: the draws change at every run")
def multinomial(ctx: LeafContext) -> LTA:
    """class indices drawn from softmax(x): each draw one of C pieces (curved boundaries: approximate), rank 0"""
    return ctx.lta(groups((ctx.out_size(), ctx.in_dims(0)[-1])), 0)
