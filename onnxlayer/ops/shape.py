"""Structural ops (moves, copies, selections), comparisons and quantization (SPEC §2)."""
from __future__ import annotations

from ..registry import LeafContext, groups, linear, register, structural
from ..transfer import LTA


@register(
    "Reshape", "Flatten", "Transpose", "Squeeze", "Unsqueeze", "Concat", "Split", "Slice",
    "Gather", "GatherElements", "GatherND", "DepthToSpace", "SpaceToDepth", "Identity",
    "Dropout", "Cast", "CastLike", "Trilu", "ReverseSequence", "Compress", "ScatterND",
    "ScatterElements", "Scatter", "Where", "Col2Im", "SequenceAt",
    kind="structural",
)
def moves(ctx: LeafContext) -> LTA:
    """rearranges, copies or selects elements: rank ≤ output size"""
    return structural(ctx.data_out_size)


@register("Pad", "Expand", "Tile", kind="structural")
def replicate(ctx: LeafContext) -> LTA:
    """adds constants or copies: rank ≤ data input size"""
    return structural(ctx.data_in_size)


@register("Resize", "Upsample", kind="linear")
def resize(ctx: LeafContext) -> LTA:
    """interpolation: rank ≤ min(in size, out size)"""
    return linear(min(ctx.in_size(0), ctx.out_size()))


@register("Shape", "Size", "Constant", "ConstantOfShape", "Range", "EyeLike", "RandomNormal",
          "RandomUniform", "RandomNormalLike", "RandomUniformLike", kind="structural")
def static_only(ctx: LeafContext) -> LTA:
    """computed from shapes or constants only: never data"""
    return structural(0)


@register("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", kind="pwl")
def compare(ctx: LeafContext) -> LTA:
    """a threshold: two pieces per element, piecewise constant output (rank 0)"""
    size = ctx.out_size()
    return LTA("pwl", groups((size, 2)), 0, True)


@register("Not", "And", "Or", "Xor", "IsNaN", "IsInf", "NonZero", "OneHot", kind="structural")
def boolean(ctx: LeafContext) -> LTA:
    """logic on piecewise-constant data: no new pieces, rank 0"""
    return structural(0)


@register("QuantizeLinear", "DequantizeLinear", "DynamicQuantizeLinear", kind="quantizer", exact=False)
def quantize(ctx: LeafContext) -> LTA:
    """scale/round/shift; rounding treated as the identity for rank, no units"""
    note = "QuantizeLinear→DequantizeLinear pairs fuse to the identity" if ctx.leaf.op_type == "QuantizeLinear" else ""
    kind = "linear" if ctx.leaf.op_type == "DequantizeLinear" else "quantizer"
    return LTA(kind, (), ctx.out_size(), kind == "linear", note=note)
