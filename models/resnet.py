"""torchvision ResNet family (He et al. 2016, V1.5: stride on the 3×3 conv)."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder

# name: (block kind, blocks per stage, groups, width per group)
CONFIGS: dict[str, tuple[str, tuple[int, ...], int, int]] = {
    "resnet18": ("basic", (2, 2, 2, 2), 1, 64),
    "resnet34": ("basic", (3, 4, 6, 3), 1, 64),
    "resnet50": ("bottleneck", (3, 4, 6, 3), 1, 64),
    "resnet101": ("bottleneck", (3, 4, 23, 3), 1, 64),
    "resnet152": ("bottleneck", (3, 8, 36, 3), 1, 64),
    "wide_resnet50_2": ("bottleneck", (3, 4, 6, 3), 1, 128),
    "resnext50_32x4d": ("bottleneck", (3, 4, 6, 3), 32, 4),
}


def _downsample(b: GraphBuilder, x: str, c_in: int, c_out: int, stride: int) -> str:
    with b.scope("downsample"):
        y = b.conv(x, c_in, c_out, 1, stride, bias=False, name="0")
        return b.batchnorm(y, c_out, name="1")


def _basic_block(b: GraphBuilder, x: str, c_in: int, planes: int, stride: int) -> str:
    y = b.conv(x, c_in, planes, 3, stride, 1, bias=False, name="conv1")
    y = b.relu(b.batchnorm(y, planes, name="bn1"), "relu")
    y = b.conv(y, planes, planes, 3, 1, 1, bias=False, name="conv2")
    y = b.batchnorm(y, planes, name="bn2")
    identity = _downsample(b, x, c_in, planes, stride) if stride != 1 or c_in != planes else x
    return b.relu(b.add(y, identity), "relu")


def _bottleneck(b: GraphBuilder, x: str, c_in: int, planes: int, stride: int,
                groups: int, width_per_group: int) -> str:
    width = int(planes * (width_per_group / 64.0)) * groups
    c_out = planes * 4
    y = b.conv(x, c_in, width, 1, bias=False, name="conv1")
    y = b.relu(b.batchnorm(y, width, name="bn1"), "relu")
    y = b.conv(y, width, width, 3, stride, 1, groups, bias=False, name="conv2")
    y = b.relu(b.batchnorm(y, width, name="bn2"), "relu")
    y = b.conv(y, width, c_out, 1, bias=False, name="conv3")
    y = b.batchnorm(y, c_out, name="bn3")
    identity = _downsample(b, x, c_in, c_out, stride) if stride != 1 or c_in != c_out else x
    return b.relu(b.add(y, identity), "relu")


def resnet(name: str, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    kind, layers, groups, width_per_group = CONFIGS[name]
    expansion = 1 if kind == "basic" else 4
    b = GraphBuilder(name, weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    x = b.conv(x, 3, 64, 7, 2, 3, bias=False, name="conv1")
    x = b.relu(b.batchnorm(x, 64, name="bn1"), "relu")
    x = b.maxpool(x, 3, 2, 1, name="maxpool")
    c_in = 64
    for stage, (blocks, planes) in enumerate(zip(layers, (64, 128, 256, 512)), start=1):
        with b.scope(f"layer{stage}"):
            for i in range(blocks):
                stride = 2 if stage > 1 and i == 0 else 1
                with b.scope(i):
                    if kind == "basic":
                        x = _basic_block(b, x, c_in, planes, stride)
                    else:
                        x = _bottleneck(b, x, c_in, planes, stride, groups, width_per_group)
                c_in = planes * expansion
    x = b.flatten(b.global_avgpool(x, "avgpool"))
    x = b.linear(x, 512 * expansion, 1000, name="fc")
    b.output(x, "logits", ["batch", 1000])
    return b.build(f"torchvision {name}")
