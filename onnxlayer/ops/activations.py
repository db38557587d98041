"""Elementwise activations: exact PWL units and smooth units fitted by chords (SPEC §2)."""
from __future__ import annotations

from ..registry import LeafContext, groups, linear, register
from ..transfer import LTA


def _pwl(ctx: LeafContext, pieces: int) -> LTA:
    size = ctx.out_size()
    return LTA("pwl", groups((size, pieces)), size, True)


def _smooth(ctx: LeafContext, pieces: int, exact: bool = False) -> LTA:
    size = ctx.out_size()
    return LTA("smooth", groups((size, pieces)), size, exact)


def pwl_rule(pieces: int, doc: str):
    """Factory: an exact PWL elementwise op with a fixed piece count."""

    def rule(ctx: LeafContext) -> LTA:
        return _pwl(ctx, pieces)

    rule.__doc__ = doc
    return rule


def smooth_rule(function: str, doc: str):
    """Factory: a smooth elementwise op fitted with the named scalar function."""

    def rule(ctx: LeafContext) -> LTA:
        return _smooth(ctx, ctx.pieces(function))

    rule.__doc__ = doc
    return rule


register("Relu", kind="pwl")(pwl_rule(2, "max(x, 0): 2 pieces"))
register("LeakyRelu", "PRelu", kind="pwl")(pwl_rule(2, "two slopes: 2 pieces"))
register("Abs", kind="pwl")(pwl_rule(2, "|x|: 2 pieces"))
register("ThresholdedRelu", kind="pwl")(pwl_rule(2, "x above a threshold, else 0: 2 pieces"))
register("HardSigmoid", kind="pwl")(pwl_rule(3, "clip(αx+β, 0, 1): 3 pieces"))
register("Shrink", kind="pwl")(pwl_rule(3, "soft/hard shrink: 3 pieces"))

register("Sigmoid", kind="smooth", exact=False)(smooth_rule("sigmoid", "logistic, fitted on [-B, B]"))
register("Tanh", kind="smooth", exact=False)(smooth_rule("tanh", "tanh, fitted on [-B, B]"))
register("Softplus", kind="smooth", exact=False)(smooth_rule("softplus", "log(1+e^x), fitted on [-B, B]"))
register("Softsign", kind="smooth", exact=False)(smooth_rule("softsign", "x/(1+|x|), fitted on [-B, B]"))
register("Mish", kind="smooth", exact=False)(smooth_rule("mish", "x·tanh(softplus(x)), fitted on [-B, B]"))
register("HardSwish", kind="smooth", exact=False)(smooth_rule("hardswish", "x·hardsigmoid(x) (piecewise quadratic), fitted on [-B, B]"))
register("Erf", kind="smooth", exact=False)(smooth_rule("erf", "erf, fitted on [-B, B]"))
register("Exp", kind="smooth", exact=False)(smooth_rule("exp", "e^x, fitted on [-B, B]"))
register("Log", kind="smooth", exact=False)(smooth_rule("log", "log x, fitted on [1/B, B]"))
register("Sqrt", kind="smooth", exact=False)(smooth_rule("sqrt", "√x, fitted on [0, B]"))
register("Reciprocal", kind="smooth", exact=False)(smooth_rule("reciprocal", "1/x, fitted on [1/B, B]"))
register("Sin", kind="smooth", exact=False)(smooth_rule("sin", "sin, fitted on [-B, B]"))
register("Cos", kind="smooth", exact=False)(smooth_rule("cos", "cos, fitted on [-B, B]"))


@register("Gelu", since=20, kind="smooth", exact=False)
def gelu(ctx: LeafContext) -> LTA:
    """x·Φ(x) (erf or tanh form), fitted on [-B, B]"""
    form = "gelu_tanh" if ctx.attr("approximate", "none") == "tanh" else "gelu"
    return _smooth(ctx, ctx.pieces(form))


@register("Gelu", domain="com.microsoft", kind="smooth", exact=False)
def ms_gelu(ctx: LeafContext) -> LTA:
    """onnxruntime contrib Gelu (erf form)"""
    return _smooth(ctx, ctx.pieces("gelu"))


@register("FastGelu", domain="com.microsoft", kind="smooth", exact=False)
def ms_fast_gelu(ctx: LeafContext) -> LTA:
    """onnxruntime contrib FastGelu (tanh form)"""
    return _smooth(ctx, ctx.pieces("gelu_tanh"))


@register("Elu", kind="smooth", exact=False)
def elu(ctx: LeafContext) -> LTA:
    """x or α(e^x − 1), fitted on [-B, B]"""
    return _smooth(ctx, ctx.parametric("elu", ctx.attr("alpha", 1.0)))


@register("Selu", kind="smooth", exact=False)
def selu(ctx: LeafContext) -> LTA:
    """γ·elu_α(x), fitted on [-B, B]"""
    return _smooth(ctx, ctx.parametric("selu", ctx.attr("alpha", 1.67326), ctx.attr("gamma", 1.0507)))


@register("Celu", kind="smooth", exact=False)
def celu(ctx: LeafContext) -> LTA:
    """max(0,x) + min(0, α(e^{x/α} − 1)), fitted on [-B, B]"""
    return _smooth(ctx, ctx.parametric("celu", ctx.attr("alpha", 1.0)))


@register("Swish", since=24, kind="smooth", exact=False)
def swish(ctx: LeafContext) -> LTA:
    """x·σ(αx), fitted on [-B, B]"""
    alpha = float(ctx.attr("alpha", 1.0))
    if alpha == 1.0:
        return _smooth(ctx, ctx.pieces("silu"))
    return _smooth(ctx, ctx.parametric("swish", alpha))


@register("Clip", kind="pwl")
def clip(ctx: LeafContext) -> LTA:
    """clamp to [min, max]: 3 pieces with both bounds, 2 with one, linear with none"""
    if ctx.opset < 11:
        bounds = sum(1 for a in ("min", "max") if any(x.name == a for x in ctx.leaf.node.proto.attribute))
    else:
        bounds = sum(1 for i in (1, 2) if ctx.has_input(i))
    if bounds == 0:
        return linear(ctx.out_size(), note="Clip without bounds is the identity")
    return _pwl(ctx, 1 + bounds)


@register("Pow", kind="smooth", exact=False)
def power(ctx: LeafContext) -> LTA:
    """x^e with a constant exponent, fitted (x² on [-B, B]; fractional powers on [0, B])"""
    size = ctx.out_size()
    if ctx.is_data(1):
        if ctx.is_data(0):
            return LTA("product", groups((size, ctx.pieces("exp")), (size, ctx.pieces("log")), (2 * size, ctx.pieces("square"))), size, False,
                       note="x^y of two data tensors as exp(y·log x)")
        return _smooth(ctx, ctx.pieces("exp"))  # c^y = exp(y·ln c)
    exponent = ctx.scalar(1)
    if exponent is None:
        values = ctx.value(1)
        if values is not None:
            return _smooth(ctx, max(ctx.parametric("pow", float(e)) for e in set(values.ravel().tolist())))
        return _smooth(ctx, ctx.pieces("square"))
    if exponent in (0.0, 1.0):
        return linear(size, note=f"x^{exponent:g} is affine")
    return _smooth(ctx, ctx.parametric("pow", exponent))


@register("Floor", "Ceil", "Round", "Sign", kind="quantizer", exact=False)
def rounding(ctx: LeafContext) -> LTA:
    """piecewise constant; treated as the identity for rank (steps finer than the domain)"""
    return LTA("quantizer", (), ctx.out_size(), False, note="rounding treated as identity for rank")


@register("Mod", kind="pwl")
def modulo(ctx: LeafContext) -> LTA:
    """x mod c: a sawtooth with one piece per period of c across [-B, B]"""
    divisor = ctx.scalar(1)
    if ctx.is_data(1) or not divisor:
        return LTA("quantizer", (), ctx.out_size(), False, note="Mod by data treated as the identity for rank")
    import math

    return _pwl(ctx, math.ceil(2 * ctx.settings.domain / abs(divisor)) + 1)
