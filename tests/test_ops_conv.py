"""ops/conv.py: convolution and pooling rank caps (N_used), MACs and window pieces (SPEC §2)."""
from __future__ import annotations

import numpy as np
from onnx import helper, numpy_helper

import onnxlayer
from builders import model, value, weight
from onnxlayer.ops.conv import covered
from op_models import one, units


def test_conv_strides_larger_than_kernel_leave_inputs_unused():
    # 1x1 kernel, stride 2 on 8x8: 16 of 64 positions used; C_in=3, C_out=8
    leaf = one("Conv", [(1, 3, 8, 8)], (1, 8, 4, 4), [weight("w", 8, 3, 1, 1)], kernel_shape=[1, 1], strides=[2, 2])
    assert leaf.rank_cap == min(8 * 16, 3 * 16)
    assert leaf.macs == 8 * 16 * 3


def test_grouped_conv_rank_cap():
    # depthwise 3x3 pad 1 on 4 channels of 5x5: per group min(1·25, 1·25)
    leaf = one("Conv", [(1, 4, 5, 5)], (1, 4, 5, 5), [weight("w", 4, 1, 3, 3)], kernel_shape=[3, 3], pads=[1, 1, 1, 1], group=4)
    assert leaf.rank_cap == 4 * 25
    assert leaf.macs == 4 * 25 * 1 * 9


def test_covered_positions():
    assert covered(8, 4, 1, 2, 1, 0) == 4
    assert covered(8, 8, 3, 1, 1, 1) == 8
    assert covered(7, 3, 2, 3, 1, 0) == 5  # windows {0,1}, {3,4}, {6}
    assert covered(9, 3, 3, 3, 2, 0) == 8  # dilation 2: {0,2,4}, {3,5,7}, {6,8,(10)}



def test_covered_positions_are_the_windows_union():
    """Against the definition: the positions i·s − pad + j·d (i < n_out, j < k) inside [0, n_in),
    over strides, dilations, kernels and pads (negative: cropping) of every size up to a few."""
    import itertools

    for n_in, n_out, k, s, d, pad in itertools.product(range(10), range(8), range(1, 5), range(1, 5), range(1, 4), range(-3, 5)):
        union = {i * s - pad + j * d for i in range(n_out) for j in range(k)} & set(range(n_in))
        assert covered(n_in, n_out, k, s, d, pad) == len(union), (n_in, n_out, k, s, d, pad)

def test_maxpool_window_pieces_and_cap():
    leaf = one("MaxPool", [(1, 2, 6, 6)], (1, 2, 2, 2), kernel_shape=[3, 3], strides=[3, 3])
    assert units(leaf) == [(8, 9)]
    assert leaf.rank_cap == 8


def test_global_max_pool_window_is_the_plane():
    leaf = one("GlobalMaxPool", [(1, 3, 4, 5)], (1, 3, 1, 1))
    assert units(leaf) == [(3, 20)] and leaf.rank_cap == 3


def test_average_pool_is_linear_with_the_pool_cap():
    # 2x2 stride 2 on 4x4: every position used, min(out 2·2·2, C·N_used 2·16)
    leaf = one("AveragePool", [(1, 2, 4, 4)], (1, 2, 2, 2), kernel_shape=[2, 2], strides=[2, 2])
    assert leaf.kind == "linear" and units(leaf) == [] and leaf.rank_cap == 8


def test_max_unpool_scatters_its_input():
    indices = numpy_helper.from_array(np.arange(8, dtype=np.int64).reshape(1, 2, 2, 2) * 2, "indices")
    leaf = one("MaxUnpool", [(1, 2, 2, 2)], (1, 2, 4, 4), [indices], opset=22, kernel_shape=[2, 2], strides=[2, 2])
    assert leaf.kind == "structural" and units(leaf) == [] and leaf.rank_cap == 8


def _deform_conv(offset_is_data: bool, mask: bool = False):
    """X [1,2,4,4], W [3,2,3,3], offsets [1,18,2,2] (2·3·3 per offset group), optional mask [1,9,2,2]."""
    inputs = [value("x", 1, 2, 4, 4)]
    inits = [weight("w", 3, 2, 3, 3)]
    if offset_is_data:
        inputs.append(value("offset", 1, 18, 2, 2))
    else:
        inits.append(numpy_helper.from_array(np.zeros((1, 18, 2, 2), np.float32), "offset"))
    names = ["x", "w", "offset"]
    if mask:
        inputs.append(value("mask", 1, 9, 2, 2))
        names += ["", "mask"]
    node = helper.make_node("DeformConv", names, ["y"], name="/dc", kernel_shape=[3, 3])
    (leaf,) = onnxlayer.analyze(model([node], inputs, [value("y", 1, 3, 2, 2)], inits, opset=22)).leaves
    return leaf


def test_deform_conv_samples_bilinearly_at_data_offsets():
    """Each of 2 input channels × 9 taps × 4 output positions = 72 samples is a bilinear
    interpolation: 4 products (8 square units of 81 pieces); a data mask multiplies each once more."""
    leaf = _deform_conv(True)
    assert units(leaf) == [(2 * 4 * 72, 81)] and leaf.macs == 12 * 2 * 9 and leaf.rank_cap == 12
    assert units(_deform_conv(True, mask=True)) == [(2 * 5 * 72, 81)]


def test_deform_conv_with_fixed_offsets_is_a_convolution():
    leaf = _deform_conv(False)
    assert leaf.kind == "linear" and units(leaf) == [] and leaf.rank_cap == min(12, 32)
