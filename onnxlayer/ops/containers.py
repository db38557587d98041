"""Ops that hold or move whole tensors: sequences, optionals, the cache scatter, and control flow.

Preparation unrolls If, Loop and Scan into the leaves of their bodies (`unroll.py`); their entries
record that, and a node left whole (a trip count or condition read from the inputs) stays opaque.
"""
from __future__ import annotations

from ..registry import LeafContext, register
from ..transfer import LTA
from .shape import moves, static_only

#: Writes an update into a cache tensor at given positions: a copy.
register("TensorScatter", kind="structural")(moves)
register("SequenceEmpty", kind="structural")(static_only)


def _elements(ctx: LeafContext, names: tuple[str, ...]) -> int:
    """Elements of the data tensors among `names` whose shapes are known (a sequence's are not)."""
    tensors = [ctx.view.tensors[n] for n in dict.fromkeys(names) if n]
    return sum(t.size for t in tensors if t.is_data and t.resolved)


@register("Optional", "OptionalGetElement", "SequenceConstruct", "SequenceInsert", "SequenceErase", "SplitToSequence",
          "ConcatFromSequence", kind="structural")
def holds(ctx: LeafContext) -> LTA:
    """wraps, collects, splits or unwraps whole tensors: rank ≤ the elements it moves"""
    return ctx.lta((), _elements(ctx, ctx.leaf.outputs) or _elements(ctx, ctx.leaf.inputs))


@register("SequenceLength", "OptionalHasElement", kind="structural")
def counts(ctx: LeafContext) -> LTA:
    """a length or a presence flag: piecewise constant, rank 0"""
    return ctx.lta((), 0)


@register("If", "Loop", "Scan", kind="opaque",
          no_pattern="unrolled in preparation: the probes read the leaves of its body")
def control_flow(ctx: LeafContext) -> LTA:
    """unrolled in preparation into its body's leaves; a node left whole (trip count or condition from the inputs) is opaque"""
    return ctx.lta((), ctx.data_out_size, note=f"{ctx.leaf.op_type} not unrolled: its iterations or branch depend on "
                                               "the inputs' values")
