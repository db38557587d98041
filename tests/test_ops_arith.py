"""ops/arith.py: affine ops, Gemm/MatMul rank caps and MACs, products of data (SPEC §2)."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import helper, numpy_helper

import onnxlayer
from builders import model, value, weight
from op_models import one, units


def test_gemm_and_matmul_rank_caps():
    leaf = one("Gemm", [(1, 10)], (1, 3), [weight("w", 3, 10)], transB=1)
    assert leaf.rank_cap == 3 and leaf.macs == 30
    leaf = one("MatMul", [(1, 5, 10)], (1, 5, 4), [weight("w", 10, 4)])
    assert leaf.rank_cap == 5 * 4 and leaf.macs == 5 * 10 * 4


def test_matmul_of_two_data_tensors_is_a_product():
    leaf = one("MatMul", [(1, 3, 4), (1, 4, 5)], (1, 3, 5))
    # each of 15 outputs holds K=4 products, each two square units of 81 pieces (SPEC table: x²)
    assert units(leaf) == [(2 * 15 * 4, 81)] and leaf.kind == "product" and not leaf.exact


def test_div_by_data_uses_reciprocal_units():
    leaf = one("Div", [(1, 6), (1, 6)], (1, 6))
    assert units(leaf) == [(6, 25), (12, 81)]  # SPEC table: 1/x 25, x² 81


def test_mul_of_data_by_itself_is_a_square():
    node = helper.make_node("Mul", ["x0", "x0"], ["y"], name="/Mul")
    (leaf,) = onnxlayer.analyze(model([node], [value("x0", 1, 6)], [value("y", 1, 6)])).leaves
    assert units(leaf) == [(6, 81)] and leaf.kind == "smooth"


def test_max_of_two_data_tensors():
    leaf = one("Max", [(1, 4), (1, 4)], (1, 4))
    assert units(leaf) == [(4, 2)]


def test_add_is_linear():
    leaf = one("Add", [(1, 4), (1, 4)], (1, 4))
    assert leaf.kind == "linear" and leaf.exact and units(leaf) == [] and leaf.rank_cap == 4


def _int(name, *values):
    return numpy_helper.from_array(np.array(values if len(values) > 1 else values[0], np.int64), name)


def test_cumprod_running_products_per_line():
    """Lines of n = 5 along axis 1: x0·x1, (x0x1)·x2, ...: 4 products each, two square units
    of x² (81 pieces, SPEC §2) per product; exclusive lines start with the constant 1."""
    leaf = one("CumProd", [(2, 5)], (2, 5), [_int("axis", 1)], opset=26)
    assert units(leaf) == [(2 * 2 * 4, 81)] and leaf.rank_cap == 10
    leaf = one("CumProd", [(2, 5)], (2, 5), [_int("axis", 1)], opset=26, exclusive=1)
    assert units(leaf) == [(2 * 2 * 3, 81)] and leaf.rank_cap == 8


@pytest.mark.parametrize("m, products", [(2, 3), (3, 10), (4, 23)])
def test_det_by_lu_elimination(m, products):
    """M − 1 pivot reciprocals (1/x: 25 pieces) and Σ_{j<M} j(j+1) multipliers and updates plus
    M − 1 products of the pivots (2×2: c/a, d − (c/a)·b, a·d')."""
    leaf = one("Det", [(1, m, m)], (1,), opset=22)
    assert products == sum(j * (j + 1) for j in range(1, m)) + m - 1
    assert units(leaf) == [(m - 1, 25), (2 * products, 81)] and leaf.rank_cap == 1


def test_det_of_one_by_one_matrices_is_linear():
    leaf = one("Det", [(1, 1, 1)], (1,), opset=22)
    assert leaf.kind == "linear" and units(leaf) == []
