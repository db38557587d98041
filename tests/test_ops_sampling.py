"""ops/sampling.py: interpolation products where a location is data, linear maps where it is
static, pieces of the maxima and tests of detection (SPEC §2's square units: x² has 81 pieces)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value
from op_models import units


def _leaf(op, inputs, outputs, inits=(), opset=22, **attrs):
    """The analysed leaf of one `op` node reading `inputs` (names of data inputs and initializers, in order)."""
    data = [value(n, *s) for n, s in inputs if s is not None]
    names = [n for n, _ in inputs]
    node = helper.make_node(op, names, [o.name for o in outputs], name=f"/{op}", **attrs)
    (leaf,) = onnxlayer.analyze(model([node], data, list(outputs), list(inits), opset=opset)).leaves
    return leaf


def _ints(name, values):
    return numpy_helper.from_array(np.array(values, np.int64), name)


def test_grid_sample_with_a_data_grid_multiplies_at_each_tap():
    """18 outputs (2 channels × 3×3 points), 4 bilinear taps each: 72 products."""
    leaf = _leaf("GridSample", [("x", (1, 2, 4, 4)), ("grid", (1, 3, 3, 2))], [value("y", 1, 2, 3, 3)])
    assert leaf.kind == "product" and units(leaf) == [(2 * 72, 81)] and leaf.rank_cap == 18
    cubic = _leaf("GridSample", [("x", (1, 2, 4, 4)), ("grid", (1, 3, 3, 2))], [value("y", 1, 2, 3, 3)], mode="cubic")
    assert units(cubic) == [(2 * 18 * 16, 81)]


@pytest.mark.parametrize("mode", ["linear", "nearest"])
def test_grid_sample_with_a_static_grid_is_linear_in_the_image(mode):
    grid = numpy_helper.from_array(np.zeros((1, 3, 3, 2), np.float32), "grid")
    leaf = _leaf("GridSample", [("x", (1, 2, 4, 4)), ("grid", None)], [value("y", 1, 2, 3, 3)], [grid], mode=mode)
    assert leaf.kind == "linear" and units(leaf) == [] and leaf.rank_cap == 18


def test_affine_grid_is_linear_in_theta():
    leaf = _leaf("AffineGrid", [("theta", (1, 2, 3)), ("size", None)], [value("grid", 1, 4, 5, 2)],
                 [_ints("size", [1, 1, 4, 5])], opset=20)
    assert leaf.kind == "linear" and leaf.rank_cap == 6


def _roi_align(rois_data: bool, **attrs):
    inputs = [("x", (1, 2, 8, 8)), ("rois", (3, 4) if rois_data else None), ("batch", None)]
    inits = [_ints("batch", [0, 0, 0])]
    if not rois_data:
        inits.append(numpy_helper.from_array(np.array([[0, 0, 4, 4]] * 3, np.float32), "rois"))
    return _leaf("RoiAlign", inputs, [value("y", 3, 2, 2, 2)], inits, output_height=2, output_width=2, **attrs)


def test_roi_align_with_data_rois_multiplies_each_sample():
    """24 outputs × 2×2 samples, 4 bilinear products each; max adds one unit of 4 pieces per output."""
    assert units(_roi_align(True, sampling_ratio=2)) == [(2 * 4 * 24 * 4, 81)]
    assert units(_roi_align(True, sampling_ratio=2, mode="max")) == [(24, 4), (2 * 4 * 24 * 4, 81)]


def test_roi_align_with_static_rois():
    avg = _roi_align(False, sampling_ratio=2)
    assert avg.kind == "linear" and units(avg) == [] and avg.rank_cap == 24
    # adaptive sampling: a bin of an ROI over the whole 8×8 map spans at most ⌈8/2⌉ + 1 = 5 rows and columns
    assert units(_roi_align(False, mode="max")) == [(24, 25)]


def test_max_roi_pool_bins_span_at_most_a_whole_map_share():
    leaf = _leaf("MaxRoiPool", [("x", (1, 2, 8, 8)), ("rois", (3, 5))], [value("y", 3, 2, 2, 2)], pooled_shape=[2, 2])
    assert units(leaf) == [(24, 25)] and leaf.rank_cap == 24


def test_non_max_suppression_counts_its_tests_and_keeps_no_rank():
    """4 boxes, 2 classes: 6 overlap tests, and per class 6 score orders (+ 4 thresholds when given)."""
    out = [value("selected", 3, 3, elem=TensorProto.INT64)]
    limit = _ints("limit", [3])
    leaf = _leaf("NonMaxSuppression", [("boxes", (1, 4, 4)), ("scores", (1, 2, 4)), ("limit", None)], out, [limit], opset=11)
    assert leaf.kind == "quantizer" and units(leaf) == [(6 + 2 * 6, 2)] and leaf.rank_cap == 0
    iou = numpy_helper.from_array(np.array([0.5], np.float32), "iou")
    score = numpy_helper.from_array(np.array([0.1], np.float32), "score")
    leaf = _leaf("NonMaxSuppression", [("boxes", (1, 4, 4)), ("scores", (1, 2, 4)), ("limit", None), ("iou", None),
                                       ("score", None)], out, [limit, iou, score], opset=11)
    assert units(leaf) == [(6 + 2 * (6 + 4), 2)]
