"""Structural ops (moves, copies, selections) and comparisons (SPEC §2)."""
from __future__ import annotations

from ..registry import Elementwise, LeafContext, groups, register
from ..transfer import LTA

#: Identity on values: fusion passes through them (Cast only between float types).
PASS_THROUGH = Elementwise("pass_through", lambda attr, a: a[0])
#: Layout ops join a fused chain only when they move size-1 axes: on the grid, the identity.
LAYOUT = Elementwise("layout", lambda attr, a: a[0])


def moves(ctx: LeafContext) -> LTA:
    """rearranges, copies or selects elements: rank ≤ output size"""
    return ctx.lta((), ctx.data_out_size)


register("Identity", "Dropout", "Cast", kind="structural", elementwise=PASS_THROUGH)(moves)
register("Reshape", "Transpose", "Squeeze", "Unsqueeze", kind="structural", elementwise=LAYOUT)(moves)
register(
    "Flatten", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "DepthToSpace", "SpaceToDepth",
    "CastLike", "Trilu", "ReverseSequence", "Compress", "ScatterND", "ScatterElements", "Scatter", "Where", "Col2Im",
    "SequenceAt", kind="structural",
)(moves)


@register("Pad", "Expand", "Tile", kind="structural")
def replicate(ctx: LeafContext) -> LTA:
    """adds constants or copies: rank ≤ data input size"""
    return ctx.lta((), ctx.data_in_size)


@register("Resize", "Upsample", kind="linear")
def resize(ctx: LeafContext) -> LTA:
    """interpolation: rank ≤ min(in size, out size)"""
    return ctx.lta((), min(ctx.in_size(0), ctx.out_size()))


@register("Shape", "Size", "Constant", "ConstantOfShape", "Range", "EyeLike", "RandomNormal",
          "RandomUniform", "RandomNormalLike", "RandomUniformLike", kind="structural")
def static_only(ctx: LeafContext) -> LTA:
    """computed from shapes or constants only: never data"""
    return ctx.lta((), 0)


@register("Equal", "Less", "Greater", "LessOrEqual", "GreaterOrEqual", kind="pwl",
          no_pattern="not written yet: the side of each threshold (the boolean output)")
def compare(ctx: LeafContext) -> LTA:
    """a threshold: two pieces per element, piecewise constant output (rank 0)"""
    return ctx.lta(groups((ctx.out_size(), 2)), 0)


@register("Not", "And", "Or", "Xor", "IsNaN", "IsInf", "NonZero", "OneHot", kind="structural")
def boolean(ctx: LeafContext) -> LTA:
    """logic on piecewise-constant data: no new pieces, rank 0"""
    return ctx.lta((), 0)

