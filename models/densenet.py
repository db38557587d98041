"""torchvision DenseNet-BC (Huang et al. 2017)."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder

# name: (growth rate, layers per block, initial features); bn_size 4 everywhere.
CONFIGS: dict[str, tuple[int, tuple[int, ...], int]] = {
    "densenet121": (32, (6, 12, 24, 16), 64),
    "densenet161": (48, (6, 12, 36, 24), 96),
    "densenet169": (32, (6, 12, 32, 32), 64),
    "densenet201": (32, (6, 12, 48, 32), 64),
}
BN_SIZE = 4


def _dense_layer(b: GraphBuilder, features: list[str], c_in: int, growth: int) -> str:
    x = b.concat(features) if len(features) > 1 else features[0]
    x = b.relu(b.batchnorm(x, c_in, name="norm1"), "relu1")
    x = b.conv(x, c_in, BN_SIZE * growth, 1, bias=False, name="conv1")
    x = b.relu(b.batchnorm(x, BN_SIZE * growth, name="norm2"), "relu2")
    return b.conv(x, BN_SIZE * growth, growth, 3, 1, 1, bias=False, name="conv2")


def densenet(name: str, weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    growth, blocks, channels = CONFIGS[name]
    b = GraphBuilder(name, weights, seed)
    x = b.input("input", ["batch", 3, 224, 224])
    with b.scope("features"):
        x = b.conv(x, 3, channels, 7, 2, 3, bias=False, name="conv0")
        x = b.relu(b.batchnorm(x, channels, name="norm0"), "relu0")
        x = b.maxpool(x, 3, 2, 1, name="pool0")
        for i, n_layers in enumerate(blocks, start=1):
            with b.scope(f"denseblock{i}"):
                features = [x]
                for j in range(1, n_layers + 1):
                    with b.scope(f"denselayer{j}"):
                        features.append(_dense_layer(b, features, channels + (j - 1) * growth,
                                                     growth))
                x = b.concat(features)
            channels += n_layers * growth
            if i != len(blocks):
                with b.scope(f"transition{i}"):
                    x = b.relu(b.batchnorm(x, channels, name="norm"), "relu")
                    x = b.conv(x, channels, channels // 2, 1, bias=False, name="conv")
                    x = b.avgpool(x, 2, 2, name="pool")
                channels //= 2
        x = b.batchnorm(x, channels, name="norm5")
    x = b.flatten(b.global_avgpool(b.relu(x)))  # F.relu, adaptive_avg_pool2d, flatten
    x = b.linear(x, channels, 1000, name="classifier")
    b.output(x, "logits", ["batch", 1000])
    return b.build(f"torchvision {name}")
