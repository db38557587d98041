"""Small classic networks: a 3-layer MLP (our own reference) and LeNet-5."""
from __future__ import annotations

import onnx

from .builder import GraphBuilder


def mlp(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    """784→256→256→10 ReLU MLP on flattened 28×28 images (onnxlayer's own reference)."""
    b = GraphBuilder("mlp", weights, seed)
    x = b.input("input", ["batch", 784])
    x = b.relu(b.linear(x, 784, 256, name="fc1"), "relu1")
    x = b.relu(b.linear(x, 256, 256, name="fc2"), "relu2")
    x = b.linear(x, 256, 10, name="fc3")
    b.output(x, "logits", ["batch", 10])
    return b.build("MLP 784-256-256-10, ReLU")


def lenet5(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    """LeNet-5 (LeCun et al. 1998) in its common modern form.

    Differences from the paper, as in most re-implementations: C3 is fully
    connected to S2 (the paper used a sparse table), pooling has no trainable
    coefficient, and the output is a linear layer instead of RBF units.
    """
    b = GraphBuilder("lenet5", weights, seed)
    x = b.input("input", ["batch", 1, 32, 32])
    x = b.act("Tanh", b.conv(x, 1, 6, 5, name="conv1"), "tanh1")
    x = b.avgpool(x, 2, 2, name="pool1")
    x = b.act("Tanh", b.conv(x, 6, 16, 5, name="conv2"), "tanh2")
    x = b.avgpool(x, 2, 2, name="pool2")
    x = b.flatten(x, name="flatten")
    x = b.act("Tanh", b.linear(x, 16 * 5 * 5, 120, name="fc1"), "tanh3")
    x = b.act("Tanh", b.linear(x, 120, 84, name="fc2"), "tanh4")
    x = b.linear(x, 84, 10, name="fc3")
    b.output(x, "logits", ["batch", 10])
    return b.build("LeNet-5 (LeCun et al. 1998), modern variant")
