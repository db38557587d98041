"""Training-only ops (ai.onnx.preview.training): never in an inference graph, analysed as what they compute.

`Gradient` differentiates a subgraph of the model: its pieces are those of that subgraph's
leaves, counted there, so it adds no units. The optimizers are elementwise updates of each
optimised tensor X: SPEC §2 units for their squares, roots, reciprocals and products of data.
The learning rate R is a float input (data when fed by the graph's inputs); the step count T is
an integer (discrete).
"""
from __future__ import annotations

from ..registry import SQUARE, LeafContext, groups, products, register
from ..transfer import LTA
from .activations import RECIPROCAL, SQRT

TRAINING_DOMAIN = "ai.onnx.preview.training"


def _optimised_elements(ctx: LeafContext, per_tensor: int) -> int:
    """Elements of the optimised tensors X: the inputs after R and T come in `per_tensor` blocks (X, G, V, ...)."""
    count = (len(ctx.leaf.inputs) - 2) // per_tensor
    return sum(ctx.in_size(2 + i) for i in range(count))


@register("Gradient", domain=TRAINING_DOMAIN, kind="structural")
def gradient(ctx: LeafContext) -> LTA:
    """derivatives of a subgraph, piecewise over the regions its own leaves count: no new units, rank ≤ output size"""
    return ctx.lta((), ctx.data_out_size, note="training only: the subgraph's leaves count its pieces")


@register("Momentum", domain=TRAINING_DOMAIN, kind="linear|product",
          no_pattern="training only: the products of the learning rate with each update")
def momentum(ctx: LeafContext) -> LTA:
    """X − R·V′, V′ = αV + βG (Nesterov: R·(G + αV′)): a product per element when R is data, else linear"""
    if not ctx.is_data(0):
        return ctx.lta((), ctx.data_out_size, kind="linear")
    return ctx.lta(groups(products(_optimised_elements(ctx, 3), ctx)), ctx.data_out_size, kind="product")


@register("Adagrad", "Adam", domain=TRAINING_DOMAIN, kind="smooth",
          no_pattern="training only: the squares, roots and reciprocals of each element's update")
def adaptive(ctx: LeafContext) -> LTA:
    """X − r·G′/(√H′ + ε), H′ accumulating G′² (Adam: V′ for G′): per element a square, a root, a reciprocal, and a product (two when R is data)"""
    elements = _optimised_elements(ctx, 4 if ctx.leaf.op_type == "Adam" else 3)
    return ctx.lta(groups((elements, ctx.pieces(SQUARE)), (elements, ctx.pieces(SQRT)),
                          (elements, ctx.pieces(RECIPROCAL)), products(elements * (1 + ctx.is_data(0)), ctx)),
                   ctx.data_out_size)
