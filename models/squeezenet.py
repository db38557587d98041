"""torchvision SqueezeNet 1.0 and 1.1 (Iandola et al. 2016)."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder

# (kind, args) per features index: ("conv", c_out, k, stride) | ("pool",) |
# ("fire", c_in, squeeze, expand1x1, expand3x3).
_FIRES_1_0 = [("conv", 96, 7, 2), ("pool",), ("fire", 96, 16, 64, 64),
              ("fire", 128, 16, 64, 64), ("fire", 128, 32, 128, 128), ("pool",),
              ("fire", 256, 32, 128, 128), ("fire", 256, 48, 192, 192),
              ("fire", 384, 48, 192, 192), ("fire", 384, 64, 256, 256), ("pool",),
              ("fire", 512, 64, 256, 256)]
_FIRES_1_1 = [("conv", 64, 3, 2), ("pool",), ("fire", 64, 16, 64, 64),
              ("fire", 128, 16, 64, 64), ("pool",), ("fire", 128, 32, 128, 128),
              ("fire", 256, 32, 128, 128), ("pool",), ("fire", 256, 48, 192, 192),
              ("fire", 384, 48, 192, 192), ("fire", 384, 64, 256, 256),
              ("fire", 512, 64, 256, 256)]


def _fire(b: GraphBuilder, x: str, c_in: int, squeeze: int, e1: int, e3: int) -> str:
    s = b.relu(b.conv(x, c_in, squeeze, 1, name="squeeze"), "squeeze_activation")
    left = b.relu(b.conv(s, squeeze, e1, 1, name="expand1x1"), "expand1x1_activation")
    right = b.relu(b.conv(s, squeeze, e3, 3, 1, 1, name="expand3x3"), "expand3x3_activation")
    return b.concat([left, right], axis=1)


def squeezenet(name: str, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder(name, weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    index = 0
    with b.scope("features"):
        for layer in (_FIRES_1_0 if name == "squeezenet1_0" else _FIRES_1_1):
            if layer[0] == "conv":
                x = b.relu(b.conv(x, 3, layer[1], layer[2], layer[3], name=index), index + 1)
                index += 2
            elif layer[0] == "pool":
                x = b.maxpool(x, 3, 2, ceil_mode=True, name=index)
                index += 1
            else:
                with b.scope(index):
                    x = _fire(b, x, *layer[1:])
                index += 1
    with b.scope("classifier"):  # Dropout (0) is absent at inference
        x = b.relu(b.conv(x, 512, 1000, 1, name=1), 2)
        x = b.global_avgpool(x, 3)
    x = b.flatten(x)
    b.output(x, "logits", ["batch", 1000])
    return b.build(f"torchvision {name}")
