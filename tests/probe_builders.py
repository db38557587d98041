"""Small runnable models for the probe tests (tests/test_probe_*.py), with their weights."""
from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def tensor(name: str, array) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=np.float32), name)


def graph_model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, list(inits)),
                          opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8
    return m


def relu_mlp(sizes, seed: int, activation: str = "Relu"):
    """Gemm/activation MLP with weights [out, in] (transB=1); returns the model and its layers."""
    rng = np.random.default_rng(seed)
    nodes, inits, layers, x = [], [], [], "x"
    for i, (k, n) in enumerate(zip(sizes[:-1], sizes[1:])):
        w, b = rng.standard_normal((n, k)), rng.standard_normal(n)
        layers.append((w, b))
        inits += [tensor(f"w{i}", w), tensor(f"b{i}", b)]
        nodes.append(helper.make_node("Gemm", [x, f"w{i}", f"b{i}"], [f"h{i}"], name=f"/fc{i}/Gemm", transB=1))
        x = f"h{i}"
        if i < len(sizes) - 2:
            nodes.append(helper.make_node(activation, [x], [f"a{i}"], name=f"/act{i}/{activation}"))
            x = f"a{i}"
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", sizes[0]])],
                        [helper.make_tensor_value_info(x, TensorProto.FLOAT, ["N", sizes[-1]])], inits)
    return model, layers
