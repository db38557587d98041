"""Elementwise activations: exact PWL units and smooth units fitted by chords (SPEC §2).

Each smooth op's scalar function is defined here once: the rule fits it, fusion evaluates it
on the grid, the probe segments it. Other families reuse the functions (LSTM's gates, Div's
reciprocal, softmax's log).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Mapping

from ..deferred import numpy as np
from ..elementwise import broadcast_error, broadcasts_to
from ..pattern import (CHUNK, GroupPattern, LeafPattern, NotProbed, PatternContext, Segmentation, compact, flat,
                       segmentation, sign_pattern, unary_pattern)
from ..registry import MAP, SQUARE, Elementwise, FunctionOf, LeafContext, Rule, fixed, groups, register, with_attrs
from ..transfer import LTA, ScalarFunction, erf, positive


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _softplus(x: np.ndarray) -> np.ndarray:
    return np.logaddexp(0.0, x)


def _power(x: np.ndarray, exponent: float) -> np.ndarray:
    if float(exponent).is_integer() and exponent >= 0:
        return x ** int(exponent)
    return np.power(x, exponent)


def _power_domain(bound: float, exponent: float) -> tuple[float, float]:
    """Integer powers on [-B, B]; fractional or negative ones live on the positive half-line."""
    if float(exponent).is_integer() and exponent >= 0:
        return (-bound, bound)
    return (1.0 / bound, bound) if exponent < 0 else (0.0, bound)


# ----------------------------------------------------------------------------- scalar functions

SIGMOID = ScalarFunction("sigmoid", _sigmoid, increasing=True)
TANH = ScalarFunction("tanh", lambda x: np.tanh(x), increasing=True)
SOFTPLUS = ScalarFunction("softplus", _softplus, increasing=True)
SOFTSIGN = ScalarFunction("softsign", lambda x: x / (1.0 + np.abs(x)), increasing=True)
GELU = ScalarFunction("gelu", lambda x: 0.5 * x * (1.0 + erf(x / np.sqrt(2.0))))
GELU_TANH = ScalarFunction("gelu_tanh", lambda x: 0.5 * x * (1.0 + np.tanh(np.sqrt(2.0 / np.pi) * (x + 0.044715 * x**3))))
HARDSWISH = ScalarFunction("hardswish", lambda x: x * np.clip(x / 6.0 + 0.5, 0.0, 1.0))
MISH = ScalarFunction("mish", lambda x: x * np.tanh(_softplus(x)))
ERF = ScalarFunction("erf", erf, increasing=True)
EXP = ScalarFunction("exp", lambda x: np.exp(x), increasing=True)
LOG = ScalarFunction("log", lambda x: np.log(x), positive, increasing=True)
SQRT = ScalarFunction("sqrt", lambda x: np.sqrt(x), lambda bound: (0.0, bound), increasing=True)
RECIPROCAL = ScalarFunction("reciprocal", lambda x: 1.0 / x, positive)
ATAN = ScalarFunction("atan", lambda x: np.arctan(x), increasing=True)
SIN = ScalarFunction("sin", lambda x: np.sin(x))
COS = ScalarFunction("cos", lambda x: np.cos(x))
TAN = ScalarFunction("tan", lambda x: np.tan(x), lambda bound: (-math.atan(bound), math.atan(bound)), increasing=True)
ASIN = ScalarFunction("asin", lambda x: np.arcsin(x), lambda bound: (-1.0, 1.0), increasing=True)
ACOS = ScalarFunction("acos", lambda x: np.arccos(x), lambda bound: (-1.0, 1.0))
SINH = ScalarFunction("sinh", lambda x: np.sinh(x), increasing=True)
COSH = ScalarFunction("cosh", lambda x: np.cosh(x))
ASINH = ScalarFunction("asinh", lambda x: np.arcsinh(x), increasing=True)
ACOSH = ScalarFunction("acosh", lambda x: np.arccosh(x), lambda bound: (1.0, 1.0 + bound), increasing=True)
ATANH = ScalarFunction("atanh", lambda x: np.arctanh(x), lambda bound: (-math.tanh(bound), math.tanh(bound)), increasing=True)
ELU = ScalarFunction("elu", lambda x, alpha: np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))))
SELU = ScalarFunction("selu", lambda x, alpha, gamma: gamma * np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0))))
CELU = ScalarFunction("celu", lambda x, alpha: np.maximum(0, x) + np.minimum(0, alpha * np.expm1(x / alpha)))
SWISH = ScalarFunction("swish", lambda x, alpha: x / (1.0 + np.exp(-alpha * x)))
POWER = ScalarFunction("pow", _power, _power_domain)
# exact PWL maps: fusion evaluates them on the grid, their pieces are counted, not fitted
RELU = ScalarFunction("relu", lambda x: np.maximum(x, 0.0))
LEAKY_RELU = ScalarFunction("leaky relu", lambda x, alpha: np.where(x >= 0, x, alpha * x))
ABS = ScalarFunction("abs", lambda x: np.abs(x))
HARD_SIGMOID = ScalarFunction("hard sigmoid", lambda x, alpha, beta: np.clip(alpha * x + beta, 0.0, 1.0))
THRESHOLDED_RELU = ScalarFunction("thresholded relu", lambda x, alpha: np.where(x > alpha, x, 0.0))


# ----------------------------------------------------------------------------- patterns


def function_pattern(ctx: PatternContext) -> LeafPattern:
    """The chord segment of the op's fitted function its input falls on."""
    function, params = ctx.function()
    seg = segmentation(function, params, ctx.settings)
    if function.increasing and seg.pieces <= 32:
        return _through_output(ctx, seg, lambda x: function.fn(x, *params), function.name)
    return unary_pattern(ctx, ctx.leaf.inputs[0], seg, function.name)


def _through_output(ctx: PatternContext, seg: Segmentation, fn: Callable[[np.ndarray], np.ndarray], label: str) -> LeafPattern:
    """A strictly increasing map: the piece of x is the piece of f(x) among the images of the
    breakpoints, so the probe reads the output and onnxruntime keeps Conv+activation fused."""
    y = ctx.out_name()
    with np.errstate(all="ignore"):
        images = np.asarray(fn(seg.points()), dtype=np.float64).astype(np.float32)
    if not (np.all(np.isfinite(images)) and np.all(np.diff(images) > 0)):
        return unary_pattern(ctx, ctx.leaf.inputs[0], seg, label)  # images collide in float32: read the input
    units = math.prod(ctx.dims_of(y))
    pieces = seg.pieces

    def codes(f):
        v = flat(f[y])
        out = np.zeros(v.shape, dtype=np.uint8 if pieces <= 256 else np.uint16)
        rows = max(1, CHUNK // max(v.shape[1], 1))
        for start in range(0, v.shape[0], rows):
            part, acc = v[start : start + rows], out[start : start + rows]
            for image in images:  # pieces at or above each breakpoint's image
                acc += part >= image
        return [out]

    return ctx.make([GroupPattern(units, pieces, (), label)], (y,), codes)


def relu_pattern(ctx: PatternContext) -> LeafPattern:
    # max(x, 0) > 0 exactly when x > 0: the output carries the sign, and exposing it keeps
    # onnxruntime's Conv+Relu fusion
    return sign_pattern(ctx, ctx.out_name(), label="relu")


def leaky_relu_pattern(ctx: PatternContext) -> LeafPattern:
    name = ctx.out_name() if float(ctx.attr("alpha")) >= 0 else ctx.data_names()[0]
    g = GroupPattern(math.prod(ctx.dims_of(name)), 2, (), "leaky relu")
    return ctx.make([g], (name,), lambda f: [compact(flat(f[name]) > 0, 2)])


def prelu_pattern(ctx: PatternContext) -> LeafPattern:
    slope = ctx.static(ctx.leaf.inputs[1])
    name = ctx.out_name() if slope is not None and np.all(slope >= 0) else ctx.leaf.inputs[0]
    g = GroupPattern(math.prod(ctx.dims_of(ctx.out_name())), 2, (), "prelu")
    x_dims = ctx.dims_of(ctx.out_name())
    return ctx.make([g], (name,), lambda f: [compact(flat(np.broadcast_to(f[name], f[name].shape[:1] + x_dims)) > 0, 2)])


def abs_pattern(ctx: PatternContext) -> LeafPattern:
    return sign_pattern(ctx, ctx.leaf.inputs[0], label="abs", off=())


def thresholded_relu_pattern(ctx: PatternContext) -> LeafPattern:
    return sign_pattern(ctx, ctx.leaf.inputs[0], float(ctx.attr("alpha")), "thresholded relu")


def _three_pieces(z: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """0 below lo, 2 above hi, 1 in between (for outputs: exact equality with a bound)."""
    codes = np.ones(z.shape, dtype=np.uint8)
    codes[z <= lo] = 0
    codes[z >= hi] = 2
    return codes


def clip_pattern(ctx: PatternContext) -> LeafPattern:
    if ctx.opset < 11:
        lo, hi = ctx.attr("min"), ctx.attr("max")
        known = True
    else:
        names = [ctx.leaf.inputs[i] if len(ctx.leaf.inputs) > i else "" for i in (1, 2)]
        values = [ctx.static(n) if n else None for n in names]
        known = all(not n or v is not None for n, v in zip(names, values))
        lo, hi = [None if v is None else float(np.asarray(v).reshape(-1)[0]) for v in values]
    y = ctx.out_name()
    units = math.prod(ctx.dims_of(y))
    if known:
        lo = -np.inf if lo is None else float(lo)
        hi = np.inf if hi is None else float(hi)
        pieces = 1 + (lo > -np.inf) + (hi < np.inf)
        # the output equals a bound exactly where it is clamped
        return ctx.make([GroupPattern(units, 3, (0, 2), "clip")], (y,), lambda f: [_three_pieces(flat(f[y]), lo, hi)],
                        note="" if pieces == 3 else f"clip with {pieces} pieces")
    x = ctx.leaf.inputs[0]

    def codes(f):
        xv, yv = flat(f[x]), flat(f[y])
        c = np.ones(xv.shape, dtype=np.uint8)
        c[yv > xv] = 0
        c[yv < xv] = 2
        return [c]

    return ctx.make([GroupPattern(units, 3, (0, 2), "clip")], (x, y), codes)


def hard_sigmoid_pattern(ctx: PatternContext) -> LeafPattern:
    y = ctx.out_name()
    return ctx.make([GroupPattern(math.prod(ctx.dims_of(y)), 3, (0, 2), "hard sigmoid")], (y,),
                    lambda f: [_three_pieces(flat(f[y]), 0.0, 1.0)])


def shrink_pattern(ctx: PatternContext) -> LeafPattern:
    x = ctx.leaf.inputs[0]
    lam = float(ctx.attr("lambd"))

    def codes(f):
        z = flat(f[x])
        c = np.ones(z.shape, dtype=np.uint8)
        c[z < -lam] = 0
        c[z > lam] = 2
        return [c]

    return ctx.make([GroupPattern(math.prod(ctx.dims_of(x)), 3, (1,), "shrink")], (x,), codes)


def power_pattern(ctx: PatternContext) -> LeafPattern:
    if ctx.is_data(1):
        raise NotProbed("data exponent")
    e = ctx.static(ctx.leaf.inputs[1])
    if e is None or e.size != 1:
        raise NotProbed("exponent is not one static value")
    e = float(e.reshape(()))
    if e in (0.0, 1.0):
        raise NotProbed("affine power")
    return unary_pattern(ctx, ctx.leaf.inputs[0], segmentation(POWER, (e,), ctx.settings), f"x^{e:g}")


# ----------------------------------------------------------------------------- rules and entries


def pwl_rule(pieces: int, doc: str) -> Rule:
    """Factory: an exact PWL elementwise op with a fixed piece count."""

    def rule(ctx: LeafContext) -> LTA:
        size = ctx.out_size()
        return ctx.lta(groups((size, pieces)), size)

    rule.__doc__ = doc
    return rule


def smooth(*op_types: str, function: FunctionOf, doc: str, domain: str = "", since: int = 1, fuses: bool = True,
           defaults: Mapping[str, Any] | None = None) -> None:
    """Factory: declare smooth elementwise ops fitted with `function` (SPEC §2), joining
    elementwise fusion (default-domain ops) and probed by their chord segments."""

    def rule(ctx: LeafContext) -> LTA:
        fn, params = ctx.function()
        size = ctx.out_size()
        return ctx.lta(groups((size, ctx.pieces(fn, *params))), size)

    rule.__doc__ = doc
    register(*op_types, domain=domain, since=since, kind="smooth", function=function,
             elementwise=MAP if fuses else None, pattern=function_pattern, defaults=defaults)(rule)


def _prelu(attr, a):
    return np.where(a[0] >= 0, a[0], a[1] * a[0])


def _clip(attr, a):
    x = a[0]
    lo = a[1] if len(a) > 1 and a[1] is not None else attr("min")
    hi = a[2] if len(a) > 2 and a[2] is not None else attr("max")
    if lo is not None:
        x = np.maximum(x, lo)
    if hi is not None:
        x = np.minimum(x, hi)
    return x


register("Relu", kind="pwl", function=fixed(RELU), elementwise=MAP, pattern=relu_pattern)(pwl_rule(2, "max(x, 0): 2 pieces"))
two_slopes = pwl_rule(2, "two slopes: 2 pieces")
register("LeakyRelu", kind="pwl", function=with_attrs(LEAKY_RELU, "alpha"), elementwise=MAP, pattern=leaky_relu_pattern)(two_slopes)


@register("PRelu", kind="pwl", elementwise=Elementwise("map", _prelu), pattern=prelu_pattern)
def prelu(ctx: LeafContext) -> LTA:
    """two slopes: 2 pieces"""
    slope, x = ctx.in_dims(1) if ctx.has_input(1) else (), ctx.in_dims(0)
    per_channel = len(slope) == 1 and len(x) > 1 and slope[0] == x[1]  # opset < 7 files: one slope per channel
    if not (broadcasts_to(slope, x) or per_channel):
        raise broadcast_error(ctx.leaf.node, ctx.leaf.node.inputs[1], slope, x)
    return two_slopes(ctx)


register("Abs", kind="pwl", function=fixed(ABS), elementwise=MAP, pattern=abs_pattern)(pwl_rule(2, "|x|: 2 pieces"))
register("ThresholdedRelu", kind="pwl", function=with_attrs(THRESHOLDED_RELU, "alpha"), elementwise=MAP,
         pattern=thresholded_relu_pattern)(pwl_rule(2, "x above a threshold, else 0: 2 pieces"))
register("HardSigmoid", kind="pwl", function=with_attrs(HARD_SIGMOID, "alpha", "beta"), elementwise=MAP,
         pattern=hard_sigmoid_pattern)(pwl_rule(3, "clip(αx+β, 0, 1): 3 pieces"))
register("Shrink", kind="pwl", pattern=shrink_pattern)(pwl_rule(3, "soft/hard shrink: 3 pieces"))

smooth("Sigmoid", function=fixed(SIGMOID), doc="logistic, fitted on [-B, B]")
smooth("Tanh", function=fixed(TANH), doc="tanh, fitted on [-B, B]")
smooth("Softplus", function=fixed(SOFTPLUS), doc="log(1+e^x), fitted on [-B, B]")
smooth("Softsign", function=fixed(SOFTSIGN), doc="x/(1+|x|), fitted on [-B, B]")
smooth("Mish", function=fixed(MISH), doc="x·tanh(softplus(x)), fitted on [-B, B]")
smooth("HardSwish", function=fixed(HARDSWISH), doc="x·hardsigmoid(x) (piecewise quadratic), fitted on [-B, B]")
smooth("Erf", function=fixed(ERF), doc="erf, fitted on [-B, B]")
smooth("Exp", function=fixed(EXP), doc="e^x, fitted on [-B, B]")
smooth("Log", function=fixed(LOG), doc="log x, fitted on [1/B, B]")
smooth("Sqrt", function=fixed(SQRT), doc="√x, fitted on [0, B]")
smooth("Reciprocal", function=fixed(RECIPROCAL), doc="1/x, fitted on [1/B, B]")
smooth("Atan", function=fixed(ATAN), doc="arctan, fitted on [-B, B]")
smooth("Sin", function=fixed(SIN), doc="sin, fitted on [-B, B]")
smooth("Cos", function=fixed(COS), doc="cos, fitted on [-B, B]")
smooth("Sinh", function=fixed(SINH), doc="sinh, fitted on [-B, B]")
smooth("Cosh", function=fixed(COSH), doc="cosh, fitted on [-B, B]")
smooth("Asinh", function=fixed(ASINH), doc="arsinh, fitted on [-B, B]")
# the inverse functions on bounded domains: asin/acos on all of [-1, 1]; acosh from its branch
# point 1 over a length B (as √x on [0, B]); the functions with poles where |f| ≤ B
smooth("Asin", function=fixed(ASIN), doc="arcsin, fitted on its domain [-1, 1]")
smooth("Acos", function=fixed(ACOS), doc="arccos, fitted on its domain [-1, 1]")
smooth("Acosh", function=fixed(ACOSH), doc="arcosh, fitted on [1, 1 + B]")
smooth("Atanh", function=fixed(ATANH), doc="artanh, fitted where |artanh x| ≤ B: [-tanh B, tanh B]")
smooth("Tan", function=fixed(TAN), doc="tan on its principal branch, fitted where |tan x| ≤ B: [-atan B, atan B]")
smooth("Gelu", since=20, function=lambda attr: (GELU_TANH if attr("approximate") == "tanh" else GELU, ()),
       doc="x·Φ(x) (erf or tanh form), fitted on [-B, B]")
smooth("Elu", function=with_attrs(ELU, "alpha"), doc="x or α(e^x − 1), fitted on [-B, B]")
smooth("Selu", function=with_attrs(SELU, "alpha", "gamma"), doc="γ·elu_α(x), fitted on [-B, B]")
smooth("Celu", function=with_attrs(CELU, "alpha"), doc="max(0,x) + min(0, α(e^{x/α} − 1)), fitted on [-B, B]")
smooth("Swish", since=24, function=with_attrs(SWISH, "alpha"), doc="x·σ(αx), fitted on [-B, B]")


@register("Clip", kind="pwl", elementwise=Elementwise("map", _clip), pattern=clip_pattern)
def clip(ctx: LeafContext) -> LTA:
    """clamp to [min, max]: 3 pieces with both bounds, 2 with one, linear with none"""
    if ctx.opset < 11:
        bounds = sum(1 for a in ("min", "max") if any(x.name == a for x in ctx.leaf.node.proto.attribute))
    else:
        bounds = sum(1 for i in (1, 2) if ctx.has_input(i))
    size = ctx.out_size()
    if bounds == 0:
        return ctx.lta((), size, kind="linear", note="Clip without bounds is the identity")
    return ctx.lta(groups((size, 1 + bounds)), size)


@register("Pow", kind="smooth", elementwise=Elementwise("map", lambda attr, a: np.power(a[0], a[1])), pattern=power_pattern)
def power(ctx: LeafContext) -> LTA:
    """x^e with a constant exponent, fitted (x² on [-B, B]; fractional powers on [0, B])"""
    size = ctx.out_size()
    if ctx.is_data(1):
        if ctx.is_data(0):
            return ctx.lta(groups((size, ctx.pieces(EXP)), (size, ctx.pieces(LOG)), (2 * size, ctx.pieces(SQUARE))), size,
                           kind="product", note="x^y of two data tensors as exp(y·log x)")
        return ctx.lta(groups((size, ctx.pieces(EXP))), size)  # c^y = exp(y·ln c)
    exponent = ctx.scalar(1)
    if exponent is None:
        values = ctx.value(1)
        if values is not None:
            return ctx.lta(groups((size, max(ctx.pieces(POWER, float(e)) for e in set(values.ravel().tolist())))), size)
        return ctx.lta(groups((size, ctx.pieces(SQUARE))), size)
    if exponent in (0.0, 1.0):
        return ctx.lta((), size, kind="linear", note=f"x^{exponent:g} is affine")
    return ctx.lta(groups((size, ctx.pieces(POWER, exponent))), size)


@register("Floor", "Ceil", "Round", "Sign", kind="quantizer", no_pattern="no units: rounding is treated as the identity")
def rounding(ctx: LeafContext) -> LTA:
    """piecewise constant; treated as the identity for rank (steps finer than the domain)"""
    return ctx.lta((), ctx.out_size(), note="rounding treated as identity for rank")


@register("Mod", kind="pwl", no_pattern="not written yet: the sawtooth's period index per element")
def modulo(ctx: LeafContext) -> LTA:
    """x mod c: a sawtooth with one piece per period of c across [-B, B]"""
    divisor = ctx.scalar(1)
    size = ctx.out_size()
    if ctx.is_data(1) or not divisor:
        return ctx.lta((), size, kind="quantizer", note="Mod by data treated as the identity for rank")
    return ctx.lta(groups((size, math.ceil(2 * ctx.settings.domain / abs(divisor)) + 1)), size)
