"""ops/signal.py: Fourier transforms are linear; windows and mel filter banks come from sizes
(static); a data window multiplies each framed sample (SPEC §2: x² has 81 pieces)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import onnxlayer
from builders import model, value
from op_models import one, units


def test_dft_is_linear():
    leaf = one("DFT", [(1, 8, 1)], (1, 8, 2), opset=20)
    assert leaf.kind == "linear" and units(leaf) == [] and leaf.rank_cap == 8


def _stft(window_is_data: bool):
    """A 16-sample signal, frames of 8 every 4 samples: 3 frames of 5 one-sided bins."""
    inputs = [value("signal", 1, 16, 1)]
    inits = [numpy_helper.from_array(np.array(4, np.int64), "step")]
    if window_is_data:
        inputs.append(value("window", 8))
    else:
        inits.append(numpy_helper.from_array(np.hanning(8).astype(np.float32), "window"))
    node = helper.make_node("STFT", ["signal", "step", "window"], ["y"], name="/stft")
    (leaf,) = onnxlayer.analyze(model([node], inputs, [value("y", 1, 3, 5, 2)], inits, opset=17)).leaves
    return leaf


def test_stft_with_a_data_window_multiplies_each_framed_sample():
    leaf = _stft(True)
    assert leaf.kind == "product" and units(leaf) == [(2 * 3 * 8, 81)]


def test_stft_with_a_static_window_is_linear():
    leaf = _stft(False)
    assert leaf.kind == "linear" and units(leaf) == [] and leaf.rank_cap == 16


@pytest.mark.parametrize("op", ["HannWindow", "HammingWindow", "BlackmanWindow"])
def test_windows_from_a_size_are_static(op):
    """The window is computed from a stored size: no leaf of its own; the product with it is linear."""
    size = numpy_helper.from_array(np.array(6, np.int64), "size")
    nodes = [helper.make_node(op, ["size"], ["w"], name="/window"), helper.make_node("Mul", ["x", "w"], ["y"], name="/mul")]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 6)], [value("y", 1, 6)], [size], opset=17))
    assert [(leaf.op_type, leaf.kind) for leaf in r.leaves] == [("Mul", "linear")]
    assert r.summary.opaque_leaves == 0


def test_mel_weight_matrix_from_sizes_is_static():
    ints = [numpy_helper.from_array(np.array(v, np.int64), n) for n, v in (("bins", 4), ("length", 8), ("rate", 8000))]
    edges = [numpy_helper.from_array(np.array(v, np.float32), n) for n, v in (("low", 0.0), ("high", 4000.0))]
    nodes = [helper.make_node("MelWeightMatrix", ["bins", "length", "rate", "low", "high"], ["mel"], name="/mel"),
             helper.make_node("MatMul", ["x", "mel"], ["y"], name="/mm")]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 5)], [value("y", 1, 4)], ints + edges, opset=17))
    assert [(leaf.op_type, leaf.kind, leaf.rank_cap) for leaf in r.leaves] == [("MatMul", "linear", 4)]
