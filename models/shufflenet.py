"""torchvision ShuffleNet V2 x1.0 (Ma et al. 2018)."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder

_REPEATS = (4, 8, 4)
_CHANNELS = (24, 116, 232, 464, 1024)  # x1.0


def _channel_shuffle(b: GraphBuilder, x: str, channels: int, size: int) -> str:
    """view(b, 2, c/2, h, w), transpose(1, 2), view(b, c, h, w)."""
    x = b.reshape(x, [0, 2, channels // 2, size, size])
    x = b.transpose(x, [0, 2, 1, 3, 4])
    return b.reshape(x, [0, channels, size, size])


def _block(b: GraphBuilder, x: str, c_in: int, c_out: int, stride: int, size: int) -> str:
    half = c_out // 2
    if stride > 1:
        with b.scope("branch1"):
            left = b.conv(x, c_in, c_in, 3, stride, 1, groups=c_in, bias=False, name=0)
            left = b.batchnorm(left, c_in, name=1)
            left = b.conv(left, c_in, half, 1, bias=False, name=2)
            left = b.relu(b.batchnorm(left, half, name=3), 4)
        right_in, right = c_in, x
    else:
        left, right = b.split(x, [half, half], axis=1)  # x.chunk(2, dim=1)
        right_in = half
    with b.scope("branch2"):
        right = b.conv(right, right_in, half, 1, bias=False, name=0)
        right = b.relu(b.batchnorm(right, half, name=1), 2)
        right = b.conv(right, half, half, 3, stride, 1, groups=half, bias=False, name=3)
        right = b.batchnorm(right, half, name=4)
        right = b.conv(right, half, half, 1, bias=False, name=5)
        right = b.relu(b.batchnorm(right, half, name=6), 7)
    out = b.concat([left, right])
    return _channel_shuffle(b, out, c_out, size // stride)


def shufflenet_v2_x1_0(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder("shufflenet_v2_x1_0", weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    with b.scope("conv1"):
        x = b.conv(x, 3, _CHANNELS[0], 3, 2, 1, bias=False, name=0)
        x = b.relu(b.batchnorm(x, _CHANNELS[0], name=1), 2)
    x = b.maxpool(x, 3, 2, 1, name="maxpool")
    c_in, size = _CHANNELS[0], 56
    for stage, (repeats, c_out) in enumerate(zip(_REPEATS, _CHANNELS[1:4]), start=2):
        with b.scope(f"stage{stage}"):
            for i in range(repeats):
                with b.scope(i):
                    x = _block(b, x, c_in if i == 0 else c_out, c_out, 2 if i == 0 else 1, size)
                if i == 0:
                    size //= 2
        c_in = c_out
    with b.scope("conv5"):
        x = b.conv(x, c_in, _CHANNELS[4], 1, bias=False, name=0)
        x = b.relu(b.batchnorm(x, _CHANNELS[4], name=1), 2)
    x = b.op("ReduceMean", x, axes=[2, 3], keepdims=0)  # x.mean([2, 3])
    x = b.linear(x, _CHANNELS[4], 1000, name="fc")
    b.output(x, "logits", ["batch", 1000])
    return b.build("torchvision shufflenet_v2_x1_0")
