"""Recurrent cells unrolled over the sequence: gate units and their products per step."""
from __future__ import annotations

from ..registry import LeafContext, groups, products, register
from ..transfer import LTA
from .activations import SIGMOID, TANH

#: The cells' gates are computed inside the fused kernel: onnxruntime exposes only the states.
GATES_INTERNAL = "the gates' pre-activations are internal to the cell: onnxruntime does not expose them"


def _steps(ctx: LeafContext) -> tuple[int, int, int]:
    """(sequence length, batch, directions·hidden) from X [T, B, I] (layout 0) or [B, T, I]."""
    x = ctx.in_dims(0)
    hidden = int(ctx.attr("hidden_size"))
    directions = 2 if ctx.attr("direction") == "bidirectional" else 1
    if ctx.attr("layout") == 1:  # absent before opset 14: layout 0
        return x[1], x[0], directions * hidden
    return x[0], x[1], directions * hidden


@register("LSTM", kind="smooth", no_pattern=GATES_INTERNAL)
def lstm(ctx: LeafContext) -> LTA:
    """per step and hidden unit: 3 sigmoid gates, 2 tanh, 3 products (f·c, i·g, o·tanh c)"""
    t, b, h = _steps(ctx)
    cells = t * b * h
    return ctx.lta(groups((3 * cells, ctx.pieces(SIGMOID)), (2 * cells, ctx.pieces(TANH)), products(3 * cells, ctx)),
                   ctx.data_out_size)


@register("GRU", kind="smooth", no_pattern=GATES_INTERNAL)
def gru(ctx: LeafContext) -> LTA:
    """per step and hidden unit: 2 sigmoid gates, 1 tanh, 3 products (r·h, z·h, (1−z)·n)"""
    t, b, h = _steps(ctx)
    cells = t * b * h
    return ctx.lta(groups((2 * cells, ctx.pieces(SIGMOID)), (cells, ctx.pieces(TANH)), products(3 * cells, ctx)),
                   ctx.data_out_size)


@register("RNN", kind="smooth", no_pattern=GATES_INTERNAL)
def rnn(ctx: LeafContext) -> LTA:
    """per step and hidden unit: one tanh (the default activation)"""
    t, b, h = _steps(ctx)
    return ctx.lta(groups((t * b * h, ctx.pieces(TANH))), ctx.data_out_size)
