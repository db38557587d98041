"""probe/stats.py: activation statistics over user samples (inactive fractions, dead units)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper

pytest.importorskip("onnxruntime")

from onnxlayer.probe.run import probe  # noqa: E402

from probe_builders import graph_model, tensor  # noqa: E402


def test_activation_statistics_from_user_samples(tmp_path):
    w = np.eye(4)
    b = np.array([0.0, 0.0, -100.0, -100.0])  # units 2 and 3 can never be active
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="fc", transB=1),
             helper.make_node("Relu", ["h"], ["y"], name="relu")]
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [tensor("w", w), tensor("b", b)])
    samples = np.random.default_rng(0).standard_normal((50, 4)).astype(np.float32)
    path = tmp_path / "samples.npz"
    np.savez(path, x=samples)
    r = probe(model, lines=1, points=8, inputs=str(path), directions=0, progress=False)
    relu = r.leaf("relu")
    expected = (np.count_nonzero(samples[:, :2] <= 0) + 2 * 50) / (4 * 50)
    assert relu.inactive_fraction == pytest.approx(expected)
    assert relu.dead_units == 2
    assert r.summary.samples == 50 and r.summary.samples_source == "inputs"
    with pytest.raises(Exception, match="keys must be the input names"):
        probe(model, inputs={"y": samples}, progress=False)
