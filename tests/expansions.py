"""Helpers of the contrib and quantized op tests: models holding onnxruntime's ops, the model
preparation makes of them (the expansions), and the two checks every expansion gets: onnxruntime
computes the same values on both, and the analysis equals that of the block written in float ops."""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

import onnxlayer
from builders import model
from onnxlayer.budget import Budget
from onnxlayer.prepare import prepare
from onnxlayer.registry import REGISTRY

MS = "com.microsoft"
METRICS = ("complexity_bits", "intrinsic_power", "intrinsic_power_mean", "input_dim", "params", "macs", "opaque_leaves")
RNG = np.random.default_rng(7)


def ms_model(nodes, inputs, outputs, inits=(), opset: int = 17) -> onnx.ModelProto:
    """A model that may hold com.microsoft ops."""
    m = model(nodes, inputs, outputs, inits, opset=opset)
    m.opset_import.append(helper.make_opsetid(MS, 1))
    return m


def node(op: str, inputs, outputs, domain: str = "", **attrs) -> onnx.NodeProto:
    """A node named after its op and first output (names must be unique)."""
    return helper.make_node(op, list(inputs), list(outputs), name=f"/{op}/{outputs[0]}", domain=domain, **attrs)


def tensor(name: str, array, dtype=np.float32) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(array, dtype=dtype), name)


def random(name: str, *shape: int, scale: float = 0.5) -> onnx.TensorProto:
    return tensor(name, scale * RNG.standard_normal(shape))


def expanded(m: onnx.ModelProto, input_shapes=None) -> onnx.ModelProto:
    """The model as preparation leaves it: every expansion applied, Q→DQ pairs read."""
    return prepare(m, input_shapes, REGISTRY.has_rule, Budget(), REGISTRY.expansion).model


def op_types(m: onnx.ModelProto) -> list[str]:
    return [f"{n.domain}::{n.op_type}" if n.domain else n.op_type for n in m.graph.node]


def run(m: onnx.ModelProto, feeds: dict) -> list[np.ndarray]:
    ort = pytest.importorskip("onnxruntime")
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, feeds)


def computes_the_same(m: onnx.ModelProto, feeds: dict, atol: float = 1e-4, input_shapes=None) -> onnx.ModelProto:
    """Assert onnxruntime gives the same outputs on `m` (its contrib kernels) and on its expansion
    (the float ops); returns the expansion."""
    ours = expanded(m, input_shapes)
    for want, got in zip(run(m, feeds), run(ours, feeds)):
        np.testing.assert_allclose(np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64), atol=atol, rtol=1e-3)
    return ours


def summary(m: onnx.ModelProto, input_shapes=None) -> dict:
    s = onnxlayer.analyze(m, input_shapes=input_shapes).summary
    return {k: getattr(s, k) for k in METRICS}


def same_numbers(fused: onnx.ModelProto, float_block: onnx.ModelProto) -> dict:
    """The fused (or quantized) form and the float block agree on C, P, P̄, D0, W, MACs (SPEC §4)."""
    got, want = summary(fused), summary(float_block)
    assert {k for k, v in got.items() if v is None} == {k for k, v in want.items() if v is None}
    assert {k: v for k, v in got.items() if v is not None} == pytest.approx(
        {k: v for k, v in want.items() if v is not None}, rel=1e-9, abs=1e-12)
    assert got["opaque_leaves"] == 0
    return got

