"""ops/loss.py: NegativeLogLikelihoodLoss (a selection by a discrete target) and
SoftmaxCrossEntropyLoss (LogSoftmax then NLL), against SPEC §2's counts."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value
from op_models import one, units
from spec_chords import spec_pieces

LOG = spec_pieces(np.log, 1 / 8, 8)


def _labels(*shape):
    return numpy_helper.from_array(np.zeros(shape, np.int64), "labels")


def test_nll_selects_by_the_target_linearly():
    mean = one("NegativeLogLikelihoodLoss", [(1, 3)], (), [_labels(1)], opset=22)
    assert mean.kind == "linear" and units(mean) == [] and mean.rank_cap == 1
    none = one("NegativeLogLikelihoodLoss", [(1, 3, 4)], (1, 4), [_labels(1, 4)], opset=22, reduction="none")
    assert none.rank_cap == 4 and units(none) == []


def test_nll_with_data_class_weights_multiplies():
    """4 selected elements (1·4 positions): a product each; the mean divides by Σw[target]:
    one reciprocal (1/x, 25 pieces) and one more product; x² has 81 pieces (SPEC §2)."""
    node = helper.make_node("NegativeLogLikelihoodLoss", ["x", "labels", "w"], ["y"], name="/nll")
    m = model([node], [value("x", 1, 3, 4), value("w", 3)], [value("y")], [_labels(1, 4)], opset=22)
    (leaf,) = onnxlayer.analyze(m).leaves
    assert leaf.kind == "product" and units(leaf) == [(2 * 5, 81), (1, 25)]


def test_softmax_cross_entropy_is_log_softmax_over_the_classes():
    """G = 1 vector of n = 5 classes: a max of 5 pieces, 5 exps on [-B, 0] (8 pieces, SPEC §2), a log."""
    leaf = one("SoftmaxCrossEntropyLoss", [(1, 5)], (), [_labels(1)], opset=13)
    assert units(leaf) == [(1, 5), (5, 8), (1, LOG)] and leaf.rank_cap == 1
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "labels"], ["y", "log_prob"], name="/sce")
    m = model([node], [value("x", 1, 5)], [value("y"), value("log_prob", 1, 5)], [_labels(1)], opset=13)
    (leaf,) = onnxlayer.analyze(m).leaves
    assert leaf.rank_cap == 4  # G·(n − 1): log_prob loses the normalisation


def test_softmax_cross_entropy_agrees_with_its_decomposition():
    """One architecture, one answer (SPEC §4): SCE and LogSoftmax → NLL give the same numbers."""
    inputs, outputs, inits = [value("x", 2, 4, 3)], [value("y")], [_labels(2, 3)]
    fused = model([helper.make_node("SoftmaxCrossEntropyLoss", ["x", "labels"], ["y"], name="/sce")], inputs, outputs, inits,
                  opset=13)
    parts = model([helper.make_node("LogSoftmax", ["x"], ["lp"], name="/lsm", axis=1),
                   helper.make_node("NegativeLogLikelihoodLoss", ["lp", "labels"], ["y"], name="/nll")],
                  inputs, outputs, inits, opset=13)
    a, b = onnxlayer.analyze(fused).summary, onnxlayer.analyze(parts).summary
    assert (a.complexity_bits, a.units, a.input_dim, a.output_dim, a.intrinsic_power) == \
        (b.complexity_bits, b.units, b.input_dim, b.output_dim, b.intrinsic_power)


def test_integer_labels_from_the_inputs_add_no_dimension():
    """Labels fed as an int64 graph input are discrete (SPEC §1): d_in is the scores' 5."""
    node = helper.make_node("SoftmaxCrossEntropyLoss", ["x", "labels"], ["y"], name="/sce")
    m = model([node], [value("x", 1, 5), value("labels", 1, elem=TensorProto.INT64)], [value("y")], opset=13)
    r = onnxlayer.analyze(m)
    assert r.summary.input_dim == 5 and r.leaves[0].d_in == 5
