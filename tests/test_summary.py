"""The global summary (SPEC §3): parameters W, the bottleneck and the VC bound's applicability."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import builders
from builders import model, value, weight
from onnxlayer.analysis import run_analysis
from onnxlayer.api import analyze
from onnxlayer.summary import leaf_params, source_params, vc_bound_of
from onnxlayer.transfer import Settings


def analysis_of(m):
    return run_analysis(m, None, Settings())


def test_a_shared_weight_counts_once_for_the_first_leaf():
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="/a/MatMul"),
             helper.make_node("Relu", ["h"], ["r"], name="/r/Relu"),
             helper.make_node("MatMul", ["r", "w"], ["y"], name="/b/MatMul")]
    a = analysis_of(model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [weight("w", 4, 4)]))
    assert leaf_params(a.view, a.leaves) == [16, 0, 0]
    assert a.result.summary.params == 16


def test_batchnorm_statistics_are_not_weights():
    nodes = [helper.make_node("Conv", ["x", "c.w"], ["c"], name="/conv/Conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("BatchNormalization", ["c", "bn.s", "bn.b", "bn.m", "bn.v"], ["y"], name="/bn/BN")]
    inits = [weight("c.w", 3, 2, 3, 3)] + [weight(f"bn.{k}", 3) for k in "sbmv"]
    a = analysis_of(model(nodes, [value("x", 1, 2, 4, 4)], [value("y", 1, 3, 4, 4)], inits))
    assert leaf_params(a.view, a.leaves) == [3 * 2 * 9, 3 + 3]  # scale and bias; mean and variance are statistics


def test_embedding_tables_count_through_their_lookup():
    """Token ids are discrete: the Gather output is the source (SPEC §1) and its table is W."""
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["e"], name="/emb/Gather"),
             helper.make_node("Relu", ["e"], ["y"], name="/r/Relu")]
    table = numpy_helper.from_array(np.zeros((10, 3), np.float32), "emb")
    m = model(nodes, [value("ids", 1, 5, elem=TensorProto.INT64)], [value("y", 1, 5, 3)], [table])
    a = analysis_of(m)
    assert source_params(a.view, a.leaves) == 10 * 3
    assert a.result.summary.params == 30 and a.result.summary.input_dim == 5 * 3


def test_bottleneck_is_the_narrowest_tensor_on_every_path():
    # SPEC §5 example 3 without the skip: d = 4 from the first Gemm on
    narrow = analyze(builders.residual(skip=False)).summary.bottleneck
    assert (narrow.dim, narrow.leaf, narrow.tensor) == (4, "/fc1/Gemm", "h")
    # with the skip every tensor that all paths cross has d = 16: the first of them, the input
    wide = analyze(builders.residual(skip=True)).summary.bottleneck
    assert (wide.dim, wide.leaf, wide.tensor) == (16, None, "x")


def test_vc_bound_needs_every_live_leaf_piecewise_linear():
    smooth = analyze(builders.mlp(activation="Tanh"))
    assert vc_bound_of(smooth.leaves, smooth.summary.depth) == (None, "not piecewise linear: Tanh '/act0/Tanh' is smooth")
    pwl = analyze(builders.mlp())
    bound, reason = vc_bound_of(pwl.leaves, pwl.summary.depth)
    assert reason == "" and bound == pytest.approx(pwl.summary.vc_bound, rel=1e-15) and bound > 0


def test_macs_and_units():
    """SPEC §5 example 2: Conv 3×3 1→4 on 8×8 (2,304 MACs) and Gemm 64×10 (640); 256 ReLU + 64 max units."""
    s = analyze(builders.cnn()).summary
    assert (s.macs, s.units, s.leaves, s.nonlinear_leaves, s.depth) == (4 * 8 * 8 * 9 + 64 * 10, 256 + 64, 5, 2, 2)
