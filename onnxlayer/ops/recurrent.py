"""Recurrent cells unrolled over the sequence: gate units and their products per step."""
from __future__ import annotations

from ..registry import LeafContext, groups, products, register
from ..transfer import LTA


def _steps(ctx: LeafContext) -> tuple[int, int, int]:
    """(sequence length, batch, directions·hidden) from X [T, B, I] (layout 0) or [B, T, I]."""
    x = ctx.in_dims(0)
    hidden = int(ctx.attr("hidden_size"))
    directions = 2 if ctx.attr("direction", "forward") == "bidirectional" else 1
    if int(ctx.attr("layout", 0)) == 1:
        return x[1], x[0], directions * hidden
    return x[0], x[1], directions * hidden


def _out_cap(ctx: LeafContext) -> int:
    return ctx.data_out_size


@register("LSTM", kind="smooth", exact=False)
def lstm(ctx: LeafContext) -> LTA:
    """per step and hidden unit: 3 sigmoid gates, 2 tanh, 3 products (f·c, i·g, o·tanh c)"""
    t, b, h = _steps(ctx)
    cells = t * b * h
    return LTA("smooth", groups((3 * cells, ctx.pieces("sigmoid")), (2 * cells, ctx.pieces("tanh")), products(3 * cells, ctx)),
               _out_cap(ctx), False)


@register("GRU", kind="smooth", exact=False)
def gru(ctx: LeafContext) -> LTA:
    """per step and hidden unit: 2 sigmoid gates, 1 tanh, 3 products (r·h, z·h, (1−z)·n)"""
    t, b, h = _steps(ctx)
    cells = t * b * h
    return LTA("smooth", groups((2 * cells, ctx.pieces("sigmoid")), (cells, ctx.pieces("tanh")), products(3 * cells, ctx)),
               _out_cap(ctx), False)


@register("RNN", kind="smooth", exact=False)
def rnn(ctx: LeafContext) -> LTA:
    """per step and hidden unit: one tanh (the default activation)"""
    t, b, h = _steps(ctx)
    return LTA("smooth", groups((t * b * h, ctx.pieces("tanh"))), _out_cap(ctx), False)
