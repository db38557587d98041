"""Control flow (If, Loop, Scan) is rewritten into plain ops and analysed like them."""
from __future__ import annotations

import re

import numpy as np
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value, weight


def step_graph(name="body"):
    """h' = Relu(h·W) with W an outer-scope weight."""
    return [helper.make_node("MatMul", ["h_in", "W"], ["m"], name="mm"), helper.make_node("Relu", ["m"], ["h_out"], name="relu")]


def loop_body():
    """Loop body (iteration, cond, h) → (cond, h·W passed through Relu)."""
    return helper.make_graph(
        [helper.make_node("Identity", ["cond_in"], ["cond_out"])] + step_graph(),
        "body",
        [helper.make_tensor_value_info("i", TensorProto.INT64, []), helper.make_tensor_value_info("cond_in", TensorProto.BOOL, []),
         helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("cond_out", TensorProto.BOOL, []), helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 4])],
    )


def explicit_chain(steps: int):
    nodes, x = [], "x"
    for i in range(steps):
        nodes += [helper.make_node("MatMul", [x, "W"], [f"m{i}"], name=f"mm{i}"),
                  helper.make_node("Relu", [f"m{i}"], [f"h{i}"], name=f"relu{i}")]
        x = f"h{i}"
    return model(nodes, [value("x", 1, 4)], [value(x, 1, 4)], [weight("W", 4, 4)])


def same(a, b):
    assert a.summary.complexity_bits == pytest.approx(b.summary.complexity_bits, rel=1e-12)
    assert a.summary.intrinsic_power == b.summary.intrinsic_power
    assert (a.summary.depth, a.summary.units, a.summary.params) == (b.summary.depth, b.summary.units, b.summary.params)


def test_loop_with_static_trip_count_is_unrolled():
    body = loop_body()
    inits = [weight("W", 4, 4), numpy_helper.from_array(np.array(3, np.int64), "M"), numpy_helper.from_array(np.array(True), "c")]
    loop = helper.make_node("Loop", ["M", "c", "x"], ["y"], name="loop", body=body)
    r = onnxlayer.analyze(model([loop], [value("x", 1, 4)], [value("y", 1, 4)], inits))
    same(r, onnxlayer.analyze(explicit_chain(3)))
    assert any("unrolled" in w for w in r.warnings)


def test_scan_is_unrolled_with_scan_outputs():
    # state h, input x_t: h' = Relu(h + x_t)·W; scan output h'
    body = helper.make_graph(
        [helper.make_node("Add", ["h_in", "x_t"], ["s"]), helper.make_node("MatMul", ["s", "W"], ["m"]),
         helper.make_node("Relu", ["m"], ["h_out"]), helper.make_node("Identity", ["h_out"], ["o_t"])],
        "body",
        [helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [1, 4]), helper.make_tensor_value_info("x_t", TensorProto.FLOAT, [1, 4])],
        [helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [1, 4]), helper.make_tensor_value_info("o_t", TensorProto.FLOAT, [1, 4])],
    )
    scan = helper.make_node("Scan", ["h0", "xs"], ["h", "os"], name="scan", body=body, num_scan_inputs=1)
    m = model([scan], [value("h0", 1, 4), value("xs", 3, 1, 4)], [value("h", 1, 4), value("os", 3, 1, 4)], [weight("W", 4, 4)])
    r = onnxlayer.analyze(m)
    relus = [l for l in r.leaves if l.op_type == "Relu"]
    assert len(relus) == 3 and r.summary.params == 16
    assert r.summary.input_dim == 4 + 12 and r.summary.output_dim == 4 + 12
    assert [l.d_in for l in relus] == [4, 4, 4]


def test_if_with_static_condition_takes_its_branch():
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4])])
    else_g = helper.make_graph([helper.make_node("Tanh", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4])])
    node = helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_g, else_branch=else_g)
    inits = [numpy_helper.from_array(np.array(False), "c")]
    r = onnxlayer.analyze(model([node], [value("x", 1, 4)], [value("y", 1, 4)], inits))
    assert [l.op_type for l in r.leaves if l.groups] == ["Tanh"]


def test_if_on_data_counts_both_branches():
    then_g = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "then", [], [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4])])
    else_g = helper.make_graph([helper.make_node("Tanh", ["x"], ["e"])], "else", [], [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4])])
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Greater", ["s", "zero"], ["c"]),
             helper.make_node("If", ["c"], ["y"], name="if", then_branch=then_g, else_branch=else_g)]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [numpy_helper.from_array(np.array(0.0, np.float32), "zero")]))
    assert sorted(l.op_type for l in r.leaves if l.groups) == ["Greater", "Relu", "Tanh"]
    assert r.summary.opaque_leaves == 0 and r.leaves[-1].op_type == "Where" and r.leaves[-1].d_out == 4


def test_nested_if_unrolls_one_level_per_round():
    """An If inside an If's branch: the first round inlines the outer, the second the inner."""
    inner_then = helper.make_graph([helper.make_node("Relu", ["x"], ["t"])], "inner_then", [],
                                   [helper.make_tensor_value_info("t", TensorProto.FLOAT, [1, 4])])
    inner_else = helper.make_graph([helper.make_node("Tanh", ["x"], ["e"])], "inner_else", [],
                                   [helper.make_tensor_value_info("e", TensorProto.FLOAT, [1, 4])])
    inner = helper.make_node("If", ["c"], ["i"], name="inner", then_branch=inner_then, else_branch=inner_else)
    outer_then = helper.make_graph([inner], "outer_then", [], [helper.make_tensor_value_info("i", TensorProto.FLOAT, [1, 4])])
    outer_else = helper.make_graph([helper.make_node("Sigmoid", ["x"], ["s"])], "outer_else", [],
                                   [helper.make_tensor_value_info("s", TensorProto.FLOAT, [1, 4])])
    outer = helper.make_node("If", ["c"], ["y"], name="outer", then_branch=outer_then, else_branch=outer_else)
    r = onnxlayer.analyze(model([outer], [value("x", 1, 4)], [value("y", 1, 4)], [numpy_helper.from_array(np.array(True), "c")]))
    assert [l.op_type for l in r.leaves if l.groups] == ["Relu"] and r.summary.opaque_leaves == 0
    assert r.summary.complexity_bits == 4.0  # 4 Relu units in d = 4
    assert sum("subgraph inlined" in w for w in r.warnings) == 2


def test_loop_with_unknown_trip_count_stays_opaque():
    body = loop_body()
    nodes = [helper.make_node("ReduceSum", ["x"], ["s"], keepdims=0), helper.make_node("Cast", ["s"], ["M"], to=TensorProto.INT64),
             helper.make_node("Loop", ["M", "", "x"], ["y"], name="loop", body=body)]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [weight("W", 4, 4)]))
    assert r.summary.opaque_leaves == 1 and any("Loop" in w for w in r.warnings)


# ------------------------------------------------------------------ what unrolling will make, counted first


def loop_model(trip, body=None, inits=()):
    inits = [weight("W", 4, 4), numpy_helper.from_array(np.asarray(trip), "M")] + list(inits)
    loop = helper.make_node("Loop", ["M", "", "x"], ["y"], name="loop", body=body or loop_body())
    return model([loop], [value("x", 1, 4)], [value("y", 1, 4)], inits)


def test_unrolled_size_multiplies_nesting_out():
    """A Loop of T steps over a b-node body makes T·b nodes and an Identity per output."""
    from onnxlayer.unroll import unrolled_size

    single = loop_model(np.array(5, np.int64))
    values = {"M": np.array(5, np.int64)}
    assert unrolled_size(single.graph, values.get, lambda n: None, 17) == (5 * 3 + 1, "Loop node 'loop'")
    # the same Loop inside a body, 7 times; its trip count a Constant of that body
    inner = helper.make_node("Loop", ["M5", "", "h_in"], ["h_out"], name="inner", body=loop_body())
    count = helper.make_node("Constant", [], ["M5"], value=numpy_helper.from_array(np.array(5, np.int64), "M5"))
    outer_body = helper.make_graph([helper.make_node("Identity", ["cond_in"], ["cond_out"]), count, inner], "outer",
                                   list(loop_body().input), list(loop_body().output))
    nested = loop_model(np.array(7, np.int64), outer_body)
    size, culprit = unrolled_size(nested.graph, {"M": np.array(7, np.int64)}.get, lambda n: None, 17)
    assert (size, culprit) == (7 * (2 + 5 * 3 + 1) + 1, "Loop node 'loop'")


def test_a_rolled_loop_counts_with_its_body():
    from onnxlayer.unroll import unrolled_size

    assert unrolled_size(loop_model(np.array(5, np.int64)).graph, lambda n: None, lambda n: None, 17) == (1 + 3, "Loop node 'loop'")


@pytest.mark.parametrize("trip, message", [
    (np.array(2.5, np.float32), "float32"),
    (np.array(3 + 0j, np.complex64), "complex64"),
    (np.array([2, 3], np.int64), "2 int64 element"),
])
def test_a_trip_count_that_is_not_one_int64_is_a_graph_error(trip, message):
    with pytest.raises(onnxlayer.GraphError, match=f"Loop node 'loop' has a trip count of .*{message}"):
        onnxlayer.analyze(loop_model(trip))


def test_a_loop_body_that_does_not_fit_its_node_is_a_graph_error():
    body = loop_body()
    del body.output[1:]
    with pytest.raises(onnxlayer.GraphError, match="carries 1 value.*needs 3 inputs and at least 2 outputs; it has 3 and 1"):
        onnxlayer.analyze(loop_model(np.array(3, np.int64), body))


def test_scan_attributes_must_fit_its_inputs():
    body = helper.make_graph([helper.make_node("Add", ["s", "xt"], ["so"])], "b", [value("s", 4), value("xt", 4)], [value("so", 4)])
    scan = helper.make_node("Scan", ["s0", "xs"], ["sN"], name="scan", num_scan_inputs=1, body=body, scan_input_axes=[0, 1])
    m = model([scan], [value("s0", 4), value("xs", 3, 4)], [value("sN", 4)])
    with pytest.raises(onnxlayer.GraphError, match="Scan node 'scan' gives 2 scan_input_axes for 1 tensors"):
        onnxlayer.analyze(m)


def test_a_scan_axis_outside_its_input_is_a_graph_error():
    """The second scan input's axis 2 names no dimension of a rank-2 tensor (the first input's is
    checked where the length is read); wrapped, it would have sliced axis 0."""
    body = helper.make_graph([helper.make_node("Add", ["s", "xt"], ["t"]), helper.make_node("Add", ["t", "yt"], ["so"])], "b",
                             [value("s", 4), value("xt", 4), value("yt", 4)], [value("so", 4)])
    scan = helper.make_node("Scan", ["s0", "xs", "ys"], ["sN"], name="scan", num_scan_inputs=2, body=body, scan_input_axes=[0, 2])
    m = model([scan], [value("s0", 4), value("xs", 3, 4), value("ys", 3, 4)], [value("sN", 4)])
    with pytest.raises(onnxlayer.GraphError, match=re.escape(
            "Scan node 'scan' has axis 2, outside its rank-2 input (axes allowed: from -2 to 1)")):
        onnxlayer.analyze(m)


def test_fresh_names_stay_unique_and_linear():
    """Thousands of names from one base: each found in constant time, none repeated."""
    import time

    from onnxlayer.unroll import FreshNames

    names = FreshNames({"a", "a_2"})
    start = time.process_time()
    made = [names.fresh("a") for _ in range(20_000)]
    assert made[:3] == ["a_1", "a_3", "a_4"] and len(set(made)) == 20_000
    assert time.process_time() - start < 1
