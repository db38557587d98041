"""Signal processing: Fourier transforms (linear), window functions and mel filter banks (computed from sizes)."""
from __future__ import annotations

from ..registry import LeafContext, groups, products, register
from ..transfer import LTA
from .shape import static_only

#: Windows are computed from an integer size: static (or, from integer data, piecewise constant).
register("HannWindow", "HammingWindow", "BlackmanWindow", kind="structural")(static_only)


@register("MelWeightMatrix", kind="structural")
def mel_weight_matrix(ctx: LeafContext) -> LTA:
    """a mel filter bank from sizes and band edges: static unless a band edge is data (rank ≤ the edges)"""
    return ctx.lta((), min(ctx.out_size(), ctx.data_in_size))


@register("DFT", kind="linear")
def dft(ctx: LeafContext) -> LTA:
    """the discrete Fourier transform (or its inverse): linear, rank ≤ min(in size, out size)"""
    return ctx.lta((), min(ctx.in_size(0), ctx.out_size()))


@register("STFT", kind="linear|product", no_pattern="not written yet: the products of a data window with each frame")
def stft(ctx: LeafContext) -> LTA:
    """windowed frames, then a DFT: linear with a static window; a data window: a product per framed sample"""
    out = ctx.out_size()
    if ctx.is_data(0) and ctx.is_data(2):
        batch, frames = ctx.out_dims(0)[:2]
        framed = batch * frames * ctx.in_dims(2)[0]
        return ctx.lta(groups(products(framed, ctx)), out, kind="product", note="data window")
    return ctx.lta((), min(ctx.data_in_size, out), kind="linear")
