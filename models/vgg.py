"""torchvision AlexNet (Krizhevsky 2014, "one weird trick" variant) and VGG
(Simonyan & Zisserman 2015)."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder

# torchvision's cfgs: numbers are 3x3 conv widths, "M" a 2x2 max-pool.
VGG_CONFIGS: dict[str, list[int | str]] = {
    "vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M",
              512, 512, 512, "M"],
    "vgg19": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
              512, 512, 512, 512, "M"],
}


def _head(b: GraphBuilder, x: str, d_in: int, linear_at: tuple[int, int, int]) -> onnx.ModelProto:
    """avgpool, flatten, then the classifier: three Linear layers at Sequential indices
    ``linear_at`` with a ReLU after the first two (Dropouts vanish at inference)."""
    # AdaptiveAvgPool2d to the size the features already have (6x6, 7x7) exports as a
    # 1x1 AveragePool; then torch.flatten(x, 1).
    x = b.flatten(b.avgpool(x, 1, 1, name="avgpool"))
    first, second, last = linear_at
    with b.scope("classifier"):
        x = b.relu(b.linear(x, d_in, 4096, name=first), first + 1)
        x = b.relu(b.linear(x, 4096, 4096, name=second), second + 1)
        x = b.linear(x, 4096, 1000, name=last)
    b.output(x, "logits", ["batch", 1000])
    return b.build(f"torchvision {b.graph_name}")


def alexnet(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder("alexnet", weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    with b.scope("features"):
        x = b.relu(b.conv(x, 3, 64, 11, 4, 2, name=0), 1)
        x = b.maxpool(x, 3, 2, name=2)
        x = b.relu(b.conv(x, 64, 192, 5, 1, 2, name=3), 4)
        x = b.maxpool(x, 3, 2, name=5)
        x = b.relu(b.conv(x, 192, 384, 3, 1, 1, name=6), 7)
        x = b.relu(b.conv(x, 384, 256, 3, 1, 1, name=8), 9)
        x = b.relu(b.conv(x, 256, 256, 3, 1, 1, name=10), 11)
        x = b.maxpool(x, 3, 2, name=12)
    return _head(b, x, 256 * 6 * 6, (1, 4, 6))


def vgg(name: str, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    batch_norm = name.endswith("_bn")
    b = GraphBuilder(name, weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    c_in, index = 3, 0
    with b.scope("features"):
        for item in VGG_CONFIGS[name.removesuffix("_bn")]:
            if item == "M":
                x = b.maxpool(x, 2, 2, name=index)
                index += 1
                continue
            x = b.conv(x, c_in, int(item), 3, 1, 1, name=index)
            if batch_norm:
                x = b.batchnorm(x, int(item), name=index + 1)
            index += 2 if batch_norm else 1
            x = b.relu(x, index)
            index += 1
            c_in = int(item)
    return _head(b, x, 512 * 7 * 7, (0, 3, 6))
