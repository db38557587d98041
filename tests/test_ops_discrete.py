"""ops/discrete.py: integer, boolean and string results carry no rank; order statistics and
random draws count their pieces."""
from __future__ import annotations

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value
from op_models import one, units


def _analyse(nodes, inputs, outputs, inits=(), opset=22):
    return onnxlayer.analyze(model(nodes, inputs, outputs, list(inits), opset=opset))


@pytest.mark.parametrize("op", ["BitwiseAnd", "BitwiseOr", "BitwiseXor", "BitShift"])
def test_bit_operations_on_integer_data_keep_no_rank(op):
    attrs = {"direction": "LEFT"} if op == "BitShift" else {}
    elem = TensorProto.UINT32 if op == "BitShift" else TensorProto.INT32
    dtype = np.uint32 if op == "BitShift" else np.int32
    nodes = [helper.make_node("Cast", ["x"], ["i"], name="/to_int", to=elem),
             helper.make_node(op, ["i", "k"], ["j"], name="/bits", **attrs),
             helper.make_node("Cast", ["j"], ["y"], name="/to_float", to=TensorProto.FLOAT)]
    r = _analyse(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [numpy_helper.from_array(np.array([3], dtype), "k")])
    bits = next(leaf for leaf in r.leaves if leaf.op_type == op)
    assert (bits.kind, bits.rank_cap, bits.d_out) == ("structural", 0, 0) and r.summary.opaque_leaves == 0


def test_bitwise_not():
    nodes = [helper.make_node("Cast", ["x"], ["i"], name="/to_int", to=TensorProto.INT32),
             helper.make_node("BitwiseNot", ["i"], ["y"], name="/not")]
    r = _analyse(nodes, [value("x", 1, 4)], [value("y", 1, 4, elem=TensorProto.INT32)])
    assert r.leaves[-1].rank_cap == 0 and r.summary.opaque_leaves == 0


def test_bit_cast_to_integers_keeps_no_rank_to_floats_keeps_the_size():
    to_int = _analyse([helper.make_node("BitCast", ["x"], ["y"], name="/bc", to=TensorProto.INT32)],
                      [value("x", 1, 4)], [value("y", 1, 4, elem=TensorProto.INT32)], opset=26)
    assert to_int.leaves[0].rank_cap == 0
    nodes = [helper.make_node("Cast", ["x"], ["h"], name="/half", to=TensorProto.FLOAT16),
             helper.make_node("BitCast", ["h"], ["y"], name="/bc", to=TensorProto.BFLOAT16)]
    to_float = _analyse(nodes, [value("x", 1, 4)], [value("y", 1, 4, elem=TensorProto.BFLOAT16)], opset=26)
    assert to_float.leaves[-1].rank_cap == 4 and to_float.summary.opaque_leaves == 0


def test_strings_never_carry_data():
    """String ops beside a float path: no leaf of their own, nothing opaque."""
    nodes = [helper.make_node("StringNormalizer", ["s"], ["t"], name="/norm", case_change_action="LOWER"),
             helper.make_node("RegexFullMatch", ["t"], ["m"], name="/re", pattern="a.*"),
             helper.make_node("Relu", ["x"], ["y"], name="/relu")]
    r = _analyse(nodes, [value("x", 1, 4), value("s", 1, 3, elem=TensorProto.STRING)],
                 [value("y", 1, 4), value("m", 1, 3, elem=TensorProto.BOOL)])
    assert [leaf.op_type for leaf in r.leaves] == ["Relu"] and r.summary.opaque_leaves == 0


def test_tf_idf_of_integer_data_keeps_no_rank():
    nodes = [helper.make_node("Cast", ["x"], ["ids"], name="/ids", to=TensorProto.INT64),
             helper.make_node("TfIdfVectorizer", ["ids"], ["y"], name="/tfidf", mode="TF", min_gram_length=1,
                              max_gram_length=1, max_skip_count=0, ngram_counts=[0], ngram_indexes=[0, 1, 2],
                              pool_int64s=[1, 2, 3])]
    r = _analyse(nodes, [value("x", 1, 6)], [value("y", 1, 3)], opset=9)
    assert r.leaves[-1].rank_cap == 0 and r.summary.opaque_leaves == 0


def test_sorted_unique_values_are_order_statistics():
    """4 distinct values out of 6: each the k-th smallest, 6 pieces (as TopK)."""
    leaf = one("Unique", [(1, 6)], (4,), opset=11)
    assert leaf.kind == "pwl" and units(leaf) == [(4, 6)] and leaf.rank_cap == 4
    unsorted = one("Unique", [(1, 6)], (4,), opset=11, sorted=0)
    assert unsorted.kind == "structural" and units(unsorted) == []


def test_bernoulli_is_a_threshold_per_element():
    leaf = one("Bernoulli", [(1, 5)], (1, 5), opset=15)
    assert units(leaf) == [(5, 2)] and leaf.rank_cap == 0


def test_multinomial_draws_one_of_the_classes():
    node = helper.make_node("Multinomial", ["x"], ["y"], name="/draw", sample_size=3)
    r = _analyse([node], [value("x", 1, 4)], [value("y", 1, 3, elem=TensorProto.INT32)])
    assert units(r.leaves[0]) == [(3, 4)] and r.leaves[0].rank_cap == 0
