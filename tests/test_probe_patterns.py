"""Activation patterns (onnxlayer.pattern, the ops' patterns, probe/patterns.py): which piece each unit is on."""
from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto, helper

pytest.importorskip("onnxruntime")

from onnxlayer.ops.activations import GELU, SIGMOID, SOFTPLUS, TANH  # noqa: E402
from onnxlayer.ops.normalization import RSQRT  # noqa: E402
from onnxlayer.pattern import segmentation  # noqa: E402
from onnxlayer.probe.run import probe, setup_probe  # noqa: E402
from onnxlayer.registry import REGISTRY, SQUARE  # noqa: E402
from onnxlayer.transfer import Settings  # noqa: E402

from probe_builders import graph_model, tensor  # noqa: E402
from spec_chords import spec_breaks  # noqa: E402


def test_chord_breakpoints_reproduce_spec_piece_counts():
    settings = Settings()
    # SPEC §2's reference table: the function, its pieces and domain, and the function written out
    for function, pieces, (lo, hi), f in (
        (SIGMOID, 9, (-8, 8), lambda x: 1 / (1 + np.exp(-x))),
        (TANH, 13, (-8, 8), np.tanh),
        (SOFTPLUS, 11, (-8, 8), lambda x: np.log1p(np.exp(x))),
        (GELU, 11, (-8, 8), lambda x: 0.5 * x * (1 + np.vectorize(math.erf)(x / math.sqrt(2)))),
        (SQUARE, 81, (-8, 8), np.square),
        (RSQRT, 14, (1 / 8, 8), lambda x: 1 / np.sqrt(x)),
    ):
        seg = segmentation(function, (), settings)
        assert seg.pieces == pieces and (seg.lo, seg.hi) == (lo, hi)
        pts = seg.points()
        assert np.allclose(pts, spec_breaks(f, lo, hi), rtol=0, atol=1e-12)
        # piece index: 0 below the first breakpoint, pieces − 1 beyond the domain
        z = np.array([[lo - 5.0, (lo + pts[0]) / 2, (pts[0] + pts[1]) / 2, hi + 5.0]])
        assert seg.index(z).tolist() == [[0, 0, 1, pieces - 1]]


def test_an_op_without_a_pattern_reports_its_reason():
    """LRN has units but no pattern: the probe names the reason its registry entry gives."""
    nodes = [helper.make_node("LRN", ["x"], ["y"], name="lrn", size=3)]
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, 3, 3])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    setup = setup_probe(model, provider="cpu")
    (reason,) = setup.not_probed.values()
    assert reason == "no pattern rule for LRN: " + REGISTRY.lookup("LRN", "", 17).no_pattern


def test_maxpool_pattern_is_the_window_argmax():
    rng = np.random.default_rng(5)
    nodes = [helper.make_node("MaxPool", ["x"], ["y"], name="pool", kernel_shape=[3, 3], strides=[2, 2], pads=[1, 1, 1, 1])]
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 2, 7, 7])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)])
    setup = setup_probe(model, provider="cpu")
    (pattern,) = setup.patterns
    x = rng.standard_normal((3, 2 * 7 * 7))
    codes = pattern.codes(setup.engine.run(x))[0]
    padded = np.pad(x.reshape(3, 2, 7, 7), [(0, 0), (0, 0), (1, 1), (1, 1)], constant_values=-np.inf)
    windows = np.stack([padded[:, :, i:i + 7:2, j:j + 7:2] for i in range(3) for j in range(3)], axis=-1)
    assert codes.tolist() == np.argmax(windows, axis=-1).reshape(3, -1).tolist()


def test_other_leaf_kinds_are_probed():
    """Clip, LeakyRelu, Max of two data tensors, fused SiLU, a data product, LayerNorm, Softmax."""
    rng = np.random.default_rng(1)
    c = [helper.make_node("Constant", [], [n], value=tensor(n, v)) for n, v in (("lo", 0.0), ("hi", 6.0))]
    nodes = c + [
        *(helper.make_node("MatMul", ["x", f"w{i}"], [f"h{i}"], name=f"fc{i}") for i in range(3)),
        helper.make_node("Clip", ["h0", "lo", "hi"], ["c"], name="clip"),
        helper.make_node("LeakyRelu", ["h1"], ["l"], name="leaky", alpha=0.1),
        helper.make_node("Max", ["c", "l"], ["m"], name="max"),
        helper.make_node("Sigmoid", ["h2"], ["s"], name="sig"),
        helper.make_node("Mul", ["h2", "s"], ["silu"], name="silu"),
        helper.make_node("Mul", ["m", "silu"], ["p"], name="product"),
        helper.make_node("LayerNormalization", ["p", "g", "be"], ["n"], name="norm", axis=-1),
        helper.make_node("Softmax", ["n"], ["y"], name="softmax", axis=-1),
    ]
    inits = [tensor(f"w{i}", rng.standard_normal((6, 8))) for i in range(3)] + [tensor("g", np.ones(8)), tensor("be", np.zeros(8))]
    model = graph_model(nodes, [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 6])],
                        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], inits)
    r = probe(model, lines=2, points=32, directions=8, progress=False)
    assert r.summary.unprobed_leaves == 0
    ops = {leaf.op_type for leaf in r.leaves if leaf.probed}
    assert {"Clip", "LeakyRelu", "Max", "FusedUnary", "Mul", "LayerNormalization", "Softmax"} <= ops
    assert all(leaf.transitions is not None for leaf in r.leaves if leaf.units)
    assert r.leaf("clip").inactive_fraction is not None and r.leaf("max").inactive_fraction is None
    assert r.summary.region_bits_max <= r.summary.region_bound_bits
