"""torchvision EfficientNet B0-B3 (Tan & Le 2019).

Input resolutions are the paper's (224, 240, 260, 300). torchvision's eval transforms
agree except for B2, whose ported weights are evaluated at crop 288.
"""
from __future__ import annotations

import math

import onnx

from .builder import GraphBuilder, make_divisible

# name: (width multiplier, depth multiplier, input resolution)
CONFIGS: dict[str, tuple[float, float, int]] = {
    "efficientnet_b0": (1.0, 1.0, 224),
    "efficientnet_b1": (1.0, 1.1, 240),
    "efficientnet_b2": (1.1, 1.2, 260),
    "efficientnet_b3": (1.2, 1.4, 300),
}
# (expand ratio, kernel, stride, in channels, out channels, layers) for B0.
_STAGES = [(1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
           (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
           (6, 3, 1, 192, 320, 1)]


def _mbconv(b: GraphBuilder, x: str, expand: int, kernel: int, stride: int,
            c_in: int, c_out: int) -> str:
    expanded = make_divisible(c_in * expand, 8)
    with b.scope("block"):
        index, y = 0, x
        if expanded != c_in:
            with b.scope(index):
                y = b.conv_norm_act(y, c_in, expanded, 1, act="SiLU")
            index += 1
        with b.scope(index):
            y = b.conv_norm_act(y, expanded, expanded, kernel, stride, groups=expanded,
                                act="SiLU")
        with b.scope(index + 1):
            y = b.squeeze_excitation(y, expanded, max(1, c_in // 4), act="SiLU")
        with b.scope(index + 2):
            y = b.conv_norm_act(y, expanded, c_out, 1, act=None)
    # Stochastic depth is the identity at inference.
    return b.add(y, x) if stride == 1 and c_in == c_out else y


def efficientnet(name: str, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    width, depth, size = CONFIGS[name]
    b = GraphBuilder(name, weights, seed)
    x = b.input("input", ["batch", 3, size, size])
    channels = make_divisible(32 * width, 8)
    with b.scope("features"):
        with b.scope(0):
            x = b.conv_norm_act(x, 3, channels, 3, 2, act="SiLU")
        for index, (expand, kernel, stride, _, c_out, layers) in enumerate(_STAGES, start=1):
            c_out = make_divisible(c_out * width, 8)
            with b.scope(index):
                for i in range(int(math.ceil(layers * depth))):
                    with b.scope(i):
                        x = _mbconv(b, x, expand, kernel, stride if i == 0 else 1,
                                    channels, c_out)
                    channels = c_out
        with b.scope(len(_STAGES) + 1):
            x = b.conv_norm_act(x, channels, 4 * channels, 1, act="SiLU")
    x = b.flatten(b.global_avgpool(x, "avgpool"))
    with b.scope("classifier"):  # Dropout (0) is absent at inference
        x = b.linear(x, 4 * channels, 1000, name=1)
    b.output(x, "logits", ["batch", 1000])
    return b.build(f"torchvision {name}")
