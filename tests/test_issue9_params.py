"""Issue 9, defects 6 and 10: parameters W over Constant nodes and static chains (SPEC §3 v1.1),
and copies of one stored tensor counted once where the values are in the model.

Each model is built here; W is counted by hand from its tensors.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value, weight

RNG = np.random.default_rng(7)


def array(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


def constant_node(name: str, values: np.ndarray) -> onnx.NodeProto:
    return helper.make_node("Constant", [], [name], value=numpy_helper.from_array(values, name))


def test_a_gemm_weight_held_in_a_constant_node_counts():
    """SPEC §3 v1.1: a 4×8 Gemm weight as a Constant node: W = 32 + the 8-element bias."""
    nodes = [constant_node("w", array(8, 4)), helper.make_node("Gemm", ["x", "w", "b"], ["y"], name="/fc", transB=1)]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 4)], [value("y", 1, 8)], [weight("b", 8)]))
    assert r.summary.params == 32 + 8 and r.leaf("/fc").params == 40


def test_a_weight_made_by_static_nodes_counts_once():
    """The stored 8×4 weight reaches two MatMuls through a Transpose and a Reshape: 32 once; a
    bias made by ConstantOfShape counts its 4 elements."""
    shape = numpy_helper.from_array(np.array([8, 4], np.int64), "shape")
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]),
             helper.make_node("MatMul", ["x", "wt"], ["h"], name="/a"),
             helper.make_node("Relu", ["h"], ["r"], name="/relu"),
             helper.make_node("Reshape", ["w", "shape"], ["w2"]),
             helper.make_node("MatMul", ["r", "w2"], ["g"], name="/b"),
             helper.make_node("ConstantOfShape", ["four"], ["bias"], value=numpy_helper.from_array(np.array([0.5], np.float32))),
             helper.make_node("Add", ["g", "bias"], ["y"], name="/bias")]
    inits = [numpy_helper.from_array(array(8, 4), "w"), shape, numpy_helper.from_array(np.array([4], np.int64), "four")]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], inits))
    assert [leaf.params for leaf in r.leaves] == [32, 0, 0, 4]
    assert r.summary.params == 32 + 4


def test_a_dequantized_weight_counts_its_quantized_elements():
    nodes = [helper.make_node("DequantizeLinear", ["wq", "s", "z"], ["w"]),
             helper.make_node("MatMul", ["x", "w"], ["y"], name="/mm")]
    inits = [numpy_helper.from_array(RNG.integers(-100, 100, (4, 6)).astype(np.int8), "wq"),
             numpy_helper.from_array(np.array(0.1, np.float32), "s"), numpy_helper.from_array(np.array(0, np.int8), "z")]
    assert onnxlayer.analyze(model(nodes, [value("x", 1, 4)], [value("y", 1, 6)], inits)).summary.params == 24


def tied_head(external: bool = False) -> onnx.ModelProto:
    """GPT-2's tie: the 10×4 embedding table, and the LM head stored again as its transpose."""
    table = array(10, 4)
    nodes = [helper.make_node("Gather", ["wte", "ids"], ["e"], name="/embed"),
             helper.make_node("Tanh", ["e"], ["h"], name="/tanh"),
             helper.make_node("MatMul", ["h", "head"], ["logits"], name="/head")]
    inits = [numpy_helper.from_array(table, "wte"), numpy_helper.from_array(np.ascontiguousarray(table.T), "head")]
    m = model(nodes, [value("ids", 1, 3, elem=TensorProto.INT64)], [value("logits", 1, 3, 10)], inits)
    if external:  # the values in a file that is not there: loading reads none of it
        for init in m.graph.initializer:
            init.ClearField("raw_data")
            init.ClearField("float_data")
            init.data_location = onnx.TensorProto.EXTERNAL
            entry = init.external_data.add()
            entry.key, entry.value = "location", "missing.bin"
    return m


def test_a_tied_head_stored_again_transposed_counts_once():
    """W = 10·4 (not 2·40): the head's values are the table's, transposed."""
    r = onnxlayer.analyze(tied_head())
    assert r.summary.params == 40
    assert not any("cannot be told" in w for w in r.warnings)


def test_without_values_a_possible_copy_counts_twice_and_says_so():
    r = onnxlayer.analyze(tied_head(external=True))
    assert r.summary.params == 80
    assert any("embedding table 'wte'" in w and "'head'" in w for w in r.warnings)


def test_weights_equal_to_one_value_are_not_taken_for_copies():
    """Two zero-initialised biases of 8 (an untrained export's) are two parameters."""
    nodes = [helper.make_node("MatMul", ["x", "w1"], ["h"], name="/a"), helper.make_node("Add", ["h", "b1"], ["hb"], name="/ab"),
             helper.make_node("Relu", ["hb"], ["r"], name="/relu"),
             helper.make_node("MatMul", ["r", "w2"], ["g"], name="/b"), helper.make_node("Add", ["g", "b2"], ["y"], name="/bb")]
    zeros = lambda name: numpy_helper.from_array(np.zeros(8, np.float32), name)  # noqa: E731
    inits = [numpy_helper.from_array(array(4, 8), "w1"), numpy_helper.from_array(array(8, 8), "w2"), zeros("b1"), zeros("b2")]
    assert onnxlayer.analyze(model(nodes, [value("x", 1, 4)], [value("y", 1, 8)], inits)).summary.params == 32 + 64 + 16


def test_a_standardised_weight_computed_from_its_stored_weight_counts_once():
    """NFNet's weight standardisation in the graph: Conv reads (w − mean(w)) · gain, computed from
    the stored 4×2×3×3 w. What enters the Conv counts: 72 elements, not w and a copy."""
    axes = numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")
    nodes = [helper.make_node("ReduceMean", ["w", "axes"], ["mean"], keepdims=1),
             helper.make_node("Sub", ["w", "mean"], ["centred"]),
             helper.make_node("Mul", ["centred", "gain"], ["w_std"]),
             helper.make_node("Conv", ["x", "w_std"], ["y"], name="/conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])]
    inits = [numpy_helper.from_array(array(4, 2, 3, 3), "w"), numpy_helper.from_array(array(4, 1, 1, 1), "gain"), axes]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 2, 5, 5)], [value("y", 1, 4, 5, 5)], inits, opset=18))
    assert r.summary.params == 4 * 2 * 3 * 3


@pytest.mark.parametrize("folded", [False, True])
def test_a_table_computed_from_constants_counts_as_it_enters_in_either_form(folded):
    """A rotary-style cos table: computed in the graph from an 8-element frequency vector (legacy
    export) or stored as the folded 16×8 result (dynamo export): 128 either way."""
    freq = np.linspace(0.1, 1.0, 8, dtype=np.float32)
    positions = np.arange(16, dtype=np.float32)[:, None]
    if folded:
        nodes = [helper.make_node("Mul", ["x", "cos"], ["y"], name="/rotate")]
        inits = [numpy_helper.from_array(np.cos(positions * freq), "cos")]
    else:
        nodes = [helper.make_node("MatMul", ["positions", "freq"], ["angles"]), helper.make_node("Cos", ["angles"], ["cos"]),
                 helper.make_node("Mul", ["x", "cos"], ["y"], name="/rotate")]
        inits = [numpy_helper.from_array(positions, "positions"), numpy_helper.from_array(freq[None, :], "freq")]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 16, 8)], [value("y", 1, 16, 8)], inits))
    assert r.summary.params == 16 * 8


def test_a_position_table_read_through_a_static_gather_counts_whole():
    """Positions 0..3 of a 16×8 table: the stored table counts (as frameworks count it)."""
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("Range", ["zero", "four", "one"], ["positions"]),
             helper.make_node("Gather", ["table", "positions"], ["p"]), helper.make_node("Add", ["x", "p"], ["y"], name="/add")]
    inits = [weight("table", 16, 8), c("zero", 0), c("four", 4), c("one", 1)]
    assert onnxlayer.analyze(model(nodes, [value("x", 1, 4, 8)], [value("y", 1, 4, 8)], inits)).summary.params == 128


def test_the_light_resnet50_of_the_onnx_package_counts_its_published_parameters():
    """Its weights are made by ConstantOfShape nodes (W was 896): He et al.'s 25,557,032."""
    import os

    path = os.path.join(os.path.dirname(onnx.__file__), "backend", "test", "data", "light", "light_resnet50.onnx")
    assert onnxlayer.analyze(path).summary.params == 25_557_032


def test_the_settings_of_structural_ops_are_not_weights():
    """Pad's pads and fill value, Resize's scales: W counts the 4×4 weight only (an exporter
    writes the fill value once per Pad or shares one)."""
    nodes = [helper.make_node("Pad", ["x", "pads", "fill"], ["p"], name="/pad"),
             helper.make_node("Resize", ["p", "", "scales"], ["r"], name="/resize"),
             helper.make_node("MatMul", ["r", "w"], ["y"], name="/mm")]
    inits = [numpy_helper.from_array(np.array([0, 0, 1, 0, 0, 0, 1, 0], np.int64), "pads"),
             numpy_helper.from_array(np.array(0.5, np.float32), "fill"),
             numpy_helper.from_array(np.array([1, 1, 1, 2], np.float32), "scales"), weight("w", 4, 4)]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 1, 2, 2)], [value("y", 1, 1, 4, 4)], inits))  # 2×2 → 4×2 → 4×4
    assert r.summary.params == 16


def test_attention_masks_made_or_folded_by_an_exporter_are_not_weights():
    """Scores [1,1,4,4] plus a mask: Where(bool pattern, 0, −10⁴) computed in the graph, or the
    folded all-zero float matrix (the dynamo exporter writes either): no weight. A zero 1-D bias
    is a parameter at its initial value and counts."""
    pattern = numpy_helper.from_array(np.tril(np.ones((1, 1, 4, 4), bool)), "pattern")
    scalars = [numpy_helper.from_array(np.array(0.0, np.float32), "zero"), numpy_helper.from_array(np.array(-1e4, np.float32), "low")]
    zeros = numpy_helper.from_array(np.zeros((1, 1, 4, 4), np.float32), "zeros")
    bias = numpy_helper.from_array(np.zeros(4, np.float32), "bias")
    nodes = [helper.make_node("Where", ["pattern", "zero", "low"], ["mask"]),
             helper.make_node("Add", ["x", "mask"], ["a"], name="/masked"), helper.make_node("Add", ["a", "zeros"], ["b"], name="/folded"),
             helper.make_node("Add", ["b", "bias"], ["y"], name="/bias")]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 1, 4, 4)], [value("y", 1, 1, 4, 4)], [pattern, zeros, bias, *scalars]))
    assert [leaf.params for leaf in r.leaves] == [0, 0, 4]
