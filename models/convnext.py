"""torchvision ConvNeXt-Tiny (Liu et al. 2022)."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder

_STAGES = [(96, 3), (192, 3), (384, 9), (768, 3)]  # (dim, blocks)
LN_EPS = 1e-6


def _layernorm2d(b: GraphBuilder, x: str, dim: int, name: str | int) -> str:
    """LayerNorm2d: permute to channels-last, LayerNorm over C, permute back."""
    with b.scope(name):
        x = b.transpose(x, [0, 2, 3, 1])
        x = b.layernorm(x, dim, LN_EPS, name=None)
        return b.transpose(x, [0, 3, 1, 2])


def _cn_block(b: GraphBuilder, x: str, dim: int) -> str:
    with b.scope("block"):
        y = b.conv(x, dim, dim, 7, 1, 3, groups=dim, name=0)
        y = b.transpose(y, [0, 2, 3, 1])
        y = b.layernorm(y, dim, LN_EPS, name=2)
        y = b.linear_nd(y, dim, 4 * dim, name=3)
        y = b.gelu(y, 4)
        y = b.linear_nd(y, 4 * dim, dim, name=5)
        y = b.transpose(y, [0, 3, 1, 2])
    scale = b.param("layer_scale", [dim, 1, 1], init="const", value=1e-6)
    # Stochastic depth is the identity at inference.
    return b.add(b.mul(scale, y), x)


def convnext_tiny(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder("convnext_tiny", weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    with b.scope("features"):
        with b.scope(0):
            x = b.conv(x, 3, 96, 4, 4, name=0)
            x = _layernorm2d(b, x, 96, 1)
        for stage, (dim, blocks) in enumerate(_STAGES):
            with b.scope(2 * stage + 1):
                for i in range(blocks):
                    with b.scope(i):
                        x = _cn_block(b, x, dim)
            if stage + 1 < len(_STAGES):
                with b.scope(2 * stage + 2):
                    x = _layernorm2d(b, x, dim, 0)
                    x = b.conv(x, dim, 2 * dim, 2, 2, name=1)
    x = b.global_avgpool(x, "avgpool")
    with b.scope("classifier"):
        x = _layernorm2d(b, x, 768, 0)
        x = b.flatten(x, name=1)
        x = b.linear(x, 768, 1000, name=2)
    b.output(x, "logits", ["batch", 1000])
    return b.build("torchvision convnext_tiny")
