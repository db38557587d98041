"""ops/arith.py: affine ops, Gemm/MatMul rank caps and MACs, products of data (SPEC §2)."""
from __future__ import annotations

from onnx import helper

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
