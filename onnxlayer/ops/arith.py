"""Arithmetic: affine ops, products of data (via squares), Gemm/MatMul/Einsum (SPEC §2)."""
from __future__ import annotations

import math
import re

from ..registry import LeafContext, groups, linear, products, register
from ..transfer import LTA


@register("Add", "Sub", "Sum", "Mean", "Neg", "CumSum", kind="linear")
def affine(ctx: LeafContext) -> LTA:
    """sums and differences: linear, rank ≤ output size"""
    return linear(ctx.out_size())


def _distinct_data(ctx: LeafContext) -> list[str]:
    return list(dict.fromkeys(ctx.leaf.inputs[i] for i in ctx.data_inputs))


@register("Mul", kind="linear|product", exact=False)
def mul(ctx: LeafContext) -> LTA:
    """linear with a static factor; a product of data as two squares per element"""
    size = ctx.out_size()
    data = _distinct_data(ctx)
    if len(ctx.data_inputs) < 2:
        return linear(size)
    if len(data) == 1:  # x·x
        return LTA("smooth", groups((size, ctx.pieces("square"))), size, False, note="x·x as a square")
    return LTA("product", groups(products(size, ctx)), size, False)


@register("Div", kind="linear|product", exact=False)
def div(ctx: LeafContext) -> LTA:
    """linear with a static divisor; a data divisor becomes 1/b units, then a product"""
    size = ctx.out_size()
    if not ctx.is_data(1):
        return linear(size)
    reciprocal = (ctx.in_size(1), ctx.pieces("reciprocal"))
    if not ctx.is_data(0) or ctx.leaf.inputs[0] == ctx.leaf.inputs[1]:
        return LTA("smooth", groups(reciprocal), size, False, note="c/x as reciprocal units")
    return LTA("product", groups(reciprocal, products(size, ctx)), size, False)


@register("Max", "Min", kind="pwl")
def max_min(ctx: LeafContext) -> LTA:
    """elementwise max/min: one unit per element with one piece per operand"""
    size = ctx.out_size()
    operands = len(_distinct_data(ctx)) + (1 if len(ctx.data_inputs) < len([i for i in ctx.leaf.inputs if i]) else 0)
    if operands < 2:
        return linear(size)
    return LTA("pwl", groups((size, operands)), size, True)


def _matmul_dims(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, int, int]:
    """(M·batch rows, K, N) of numpy-style matmul a @ b."""
    a2 = a if len(a) > 1 else (1,) + a
    b2 = b if len(b) > 1 else b + (1,)
    return math.prod(a2[:-1]), a2[-1], b2[-1]


@register("MatMul", kind="linear|product", exact=False)
def matmul(ctx: LeafContext) -> LTA:
    """x·W: rank ≤ rows·min(K, N); data·data: K products per output element"""
    a, b = ctx.in_dims(0), ctx.in_dims(1)
    k = a[-1]
    out = ctx.out_size()
    macs = out * k
    if ctx.is_data(0) and ctx.is_data(1):
        return LTA("product", groups(products(out * k, ctx)), out, False, macs=macs)
    if ctx.is_data(0) and len(b) <= 2:
        n = b[-1] if len(b) == 2 else 1
        rows = out // n if n else 0
        return linear(rows * min(k, n), macs=macs)
    if ctx.is_data(1) and len(a) <= 2:
        m = a[0] if len(a) == 2 else 1
        cols = out // m if m else 0
        return linear(cols * min(m, k), macs=macs)
    return linear(min(out, ctx.data_in_size), macs=macs)


@register("Gemm", kind="linear|product", exact=False)
def gemm(ctx: LeafContext) -> LTA:
    """α·A'·B' + β·C with a static weight: rank ≤ M·min(K, N); MACs M·K·N"""
    a, b = ctx.in_dims(0), ctx.in_dims(1)
    m, k = (a[1], a[0]) if ctx.attr("transA", 0) else (a[0], a[1])
    n = b[0] if ctx.attr("transB", 0) else b[1]
    macs = m * k * n
    if ctx.is_data(0) and ctx.is_data(1):
        return LTA("product", groups(products(m * n * k, ctx)), m * n, False, macs=macs)
    if ctx.is_data(0):
        return linear(m * min(k, n), macs=macs)
    if ctx.is_data(1):
        return linear(n * min(m, k), macs=macs)
    return linear(ctx.out_size(), macs=macs)  # only the bias C carries data


@register("Einsum", kind="linear|product", exact=False)
def einsum(ctx: LeafContext) -> LTA:
    """one data operand: linear; two: a product per contracted index per output"""
    out = ctx.out_size()
    data = ctx.data_inputs
    if len(data) < 2 or len([i for i in ctx.leaf.inputs if i]) != 2:
        return linear(min(out, ctx.data_in_size))
    equation = str(ctx.attr("equation", "")).replace(" ", "")
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
    return LTA("product", groups(products(out * contracted, ctx)), out, False)
