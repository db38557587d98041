"""The leaves SPEC §4 fusion makes (domain `onnxlayer`): fused elementwise chains."""
from __future__ import annotations

from ..deferred import numpy as np
from ..elementwise import chain_constants, evaluate_chain
from ..graph import DATA
from ..pattern import LeafPattern, NotProbed, PatternContext, Segmentation, unary_pattern
from ..registry import LeafContext, register
from ..transfer import LTA, UnitGroup, chord_breaks

#: The domain of the leaf types fusion creates.
FUSED_DOMAIN = "onnxlayer"


def fused_unary_pattern(ctx: PatternContext) -> LeafPattern:
    """The fused chain evaluated on the grid, per distinct column of its constants (as fusion does)."""
    x, y = ctx.leaf.inputs[0], ctx.leaf.outputs[0]
    members = ctx.leaf.members
    opset = ctx.view.opset
    constants = chain_constants(members, lambda i: ctx.view.tensors[i].role == DATA, ctx.static, opset)
    if constants is None:
        raise NotProbed("a constant of the fused chain is unknown")
    grid, out, column = evaluate_chain(members, x, y, constants, ctx.dims_of(x), ctx.settings.domain, opset)
    b = ctx.settings.domain
    if not np.all(np.isfinite(out)):
        raise NotProbed("the fused chain is not finite on the domain")
    breaks = tuple(chord_breaks(out[:, j], grid, ctx.settings.tolerance) for j in range(out.shape[1]))
    seg = Segmentation(-b, b, breaks, column)
    label = "·".join(m.op_type for m in ctx.leaf.members)
    return unary_pattern(ctx, x, seg, f"fused {label}")


@register("FusedUnary", domain=FUSED_DOMAIN, kind="smooth|pwl", pattern=fused_unary_pattern)
def fused_unary(ctx: LeafContext) -> LTA:
    """a fused elementwise chain: one unit per element, pieces from the evaluated chain"""
    size = ctx.out_size()
    pieces = int(ctx.leaf.attrs["pieces"])
    groups = (UnitGroup(size, pieces),) if pieces > 1 else ()
    return ctx.lta(groups, size, kind="pwl" if ctx.leaf.attrs.get("exact") else "smooth",
                   note="fused: " + "·".join(m.op_type for m in ctx.leaf.members))
