"""Graph view: the records, topological order and data/static roles (SPEC §1).

Views here are built straight from small models (after ONNX's own shape inference), without
the preparation pipeline, which tests/test_prepare.py covers.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value, weight
from onnxlayer.graph import DATA, DISCRETE, STATIC, GraphView, Tensor, build_view, classify, subgraphs


def view_of(m: onnx.ModelProto) -> GraphView:
    view = build_view(onnx.shape_inference.infer_shapes(m))
    classify(view)
    return view


def ints(name: str, values) -> onnx.TensorProto:
    return numpy_helper.from_array(np.array(values, dtype=np.int64), name)


# --------------------------------------------------------------------------- records


def test_tensor_size_is_exact_and_refuses_open_dims():
    huge = 2**40 + 1
    assert Tensor("t", TensorProto.FLOAT, (1, huge, huge)).size == huge * huge  # a Python int, no float rounding
    assert Tensor("t", TensorProto.FLOAT, (2, 3)).resolved
    open_dim = Tensor("t", TensorProto.FLOAT, (1, "seq"))
    assert not open_dim.resolved
    with pytest.raises(onnxlayer.ShapeError, match="dim 1"):
        open_dim.size
    with pytest.raises(onnxlayer.ShapeError, match="no known shape"):
        Tensor("t").size


def test_node_attr_decodes_strings_and_falls_back_to_default():
    nodes = [helper.make_node("Resize", ["x", "", "scales"], ["y"], name="/up", mode="nearest")]
    m = model(nodes, [value("x", 1, 1, 2, 2)], [value("y", 1, 1, 4, 4)],
              [numpy_helper.from_array(np.array([1, 1, 2, 2], np.float32), "scales")])
    node = view_of(m).nodes[0]
    assert node.attr("mode") == "nearest"
    assert node.attr("coordinate_transformation_mode", "half_pixel") == "half_pixel"


def test_nameless_and_duplicate_node_names_are_made_unique():
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Tanh", ["a"], ["b"], name="dup"),
             helper.make_node("Sigmoid", ["b"], ["y"], name="dup")]
    view = view_of(model(nodes, [value("x", 1, 4)], [value("y", 1, 4)]))
    assert [n.name for n in view.nodes] == ["Relu_0", "dup", "dup_2"]


def test_value_reads_constants_and_folds_static_nodes():
    """Initializers and Constant nodes are values; a static Add of them is evaluated on demand;
    Shape of a data tensor with known dims is its dims."""
    nodes = [helper.make_node("Constant", [], ["c"], value=numpy_helper.from_array(np.array([3, 4], np.int64))),
             helper.make_node("Add", ["c", "k"], ["s"]), helper.make_node("Shape", ["x"], ["shape"]),
             helper.make_node("Relu", ["x"], ["y"])]
    view = view_of(model(nodes, [value("x", 1, 5)], [value("y", 1, 5)], [ints("k", [10, 20])]))
    assert view.value("k").tolist() == [10, 20]
    assert view.value("c").tolist() == [3, 4]
    assert view.value("s").tolist() == [13, 24]
    assert view.value("shape").tolist() == [1, 5]
    assert view.value("x") is None and view.value("y") is None  # data has no value


def test_producer_and_subgraph_reads():
    """An If branch reading the outer tensor `h` makes `h` an implicit input of the If node."""
    then = helper.make_graph([helper.make_node("Relu", ["h"], ["t"])], "then", [], [value("t", 1, 4)])
    other = helper.make_graph([helper.make_node("Tanh", ["h"], ["e"])], "else", [], [value("e", 1, 4)])
    nodes = [helper.make_node("Sigmoid", ["x"], ["h"], name="/sig"),
             helper.make_node("If", ["cond"], ["y"], name="/if", then_branch=then, else_branch=other)]
    m = model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [numpy_helper.from_array(np.array(True), "cond")])
    view = view_of(m)
    if_node = view.nodes[1]
    assert sorted(g.name for g in subgraphs(if_node.proto)) == ["else", "then"]
    assert if_node.implicit_inputs == ("h",) and if_node.all_inputs == ("cond", "h")
    assert view.producer("h").name == "/sig" and view.producer("x") is None


# --------------------------------------------------------------------------- topological order


def test_nodes_come_in_topological_order_stable_in_file_order():
    """Listed backwards in the file; two independent branches keep their file order."""
    nodes = [helper.make_node("Add", ["l", "r"], ["y"], name="/add"), helper.make_node("Tanh", ["a"], ["r"], name="/tanh"),
             helper.make_node("Sigmoid", ["a"], ["l"], name="/sig"), helper.make_node("Relu", ["x"], ["a"], name="/relu")]
    view = view_of(model(nodes, [value("x", 1, 4)], [value("y", 1, 4)]))
    assert [n.name for n in view.nodes] == ["/relu", "/tanh", "/sig", "/add"]
    assert list(view.positions) == [3, 1, 2, 0]  # node index (file order) → position


def test_cycle_is_a_graph_error_naming_its_nodes():
    nodes = [helper.make_node("Add", ["x", "b"], ["a"], name="/a"), helper.make_node("Relu", ["a"], ["b"], name="/b"),
             helper.make_node("Identity", ["a"], ["y"], name="/y")]
    m = model(nodes, [value("x", 1, 4)], [value("y", 1, 4)])
    with pytest.raises(onnxlayer.GraphError, match=r"cycle: /a -> /b|cycle: /b -> /a"):
        build_view(m)


@pytest.mark.parametrize("nodes,message", [
    ([helper.make_node("Relu", ["ghost"], ["y"], name="/r")], "'/r' \\(Relu\\) reads tensor 'ghost', which nothing produces"),
    ([helper.make_node("Relu", ["x"], ["y"], name="/r"), helper.make_node("Tanh", ["x"], ["y"], name="/t")],
     "tensor 'y' is produced twice \\(node '/t'\\)"),
    ([helper.make_node("Relu", ["x"], ["z"], name="/r")], "graph output 'y' is not produced by any node"),
])
def test_dangling_references_are_graph_errors(nodes, message):
    with pytest.raises(onnxlayer.GraphError, match=message):
        build_view(model(nodes, [value("x", 1, 4)], [value("y", 1, 4)]))


# --------------------------------------------------------------------------- roles (SPEC §1)


def test_float_input_is_a_data_source():
    view = view_of(model([helper.make_node("Relu", ["x"], ["y"])], [value("x", 1, 4)], [value("y", 1, 4)]))
    assert view.tensors["x"].role == DATA and [t.name for t in view.sources] == ["x"]
    assert view.tensors["y"].role == DATA and not view.tensors["y"].source


def test_static_subgraph_is_not_data():
    """A weight transposed by a node stays static; its elements count as parameters."""
    nodes = [helper.make_node("Transpose", ["w"], ["wt"], perm=[1, 0]), helper.make_node("MatMul", ["x", "wt"], ["y"], name="/mm")]
    m = model(nodes, [value("x", 1, 3)], [value("y", 1, 5)], [weight("w", 5, 3)])
    view = view_of(m)
    assert (view.tensors["w"].role, view.tensors["wt"].role, view.tensors["y"].role) == (STATIC, STATIC, DATA)
    r = onnxlayer.analyze(m)
    assert [l.op_type for l in r.leaves] == ["MatMul"]
    assert r.summary.params == 15 and r.leaves[0].rank_cap == 3


def test_shape_of_data_is_static():
    """Shape depends on the data's shape only: static, and so is arithmetic on it (SPEC §1)."""
    nodes = [helper.make_node("Shape", ["x"], ["s"]), helper.make_node("Mul", ["s", "two"], ["s2"]),
             helper.make_node("Relu", ["x"], ["y"])]
    view = view_of(model(nodes, [value("x", 1, 4)], [value("y", 1, 4)], [ints("two", [2])]))
    assert (view.tensors["s"].role, view.tensors["s2"].role) == (STATIC, STATIC)


def test_token_ids_are_discrete_and_the_embedding_output_is_the_source():
    nodes = [helper.make_node("Add", ["ids", "one"], ["shifted"]), helper.make_node("Gather", ["table", "shifted"], ["e"]),
             helper.make_node("Relu", ["e"], ["y"])]
    m = model(nodes, [value("ids", 1, 3, elem=TensorProto.INT64)], [value("y", 1, 3, 4)], [weight("table", 10, 4), ints("one", 1)])
    view = view_of(m)
    assert (view.tensors["ids"].role, view.tensors["shifted"].role) == (DISCRETE, DISCRETE)
    assert view.tensors["e"].role == DATA and [t.name for t in view.sources] == ["e"]
    assert onnxlayer.analyze(m).summary.input_dim == 3 * 4  # SPEC §1: |ids|·E


def test_a_model_without_float_data_is_a_graph_error():
    m = model([helper.make_node("Add", ["ids", "ids"], ["y"])], [value("ids", 1, 3, elem=TensorProto.INT64)],
              [value("y", 1, 3, elem=TensorProto.INT64)])
    with pytest.raises(onnxlayer.GraphError, match="no float data input"):
        view_of(m)


# --------------------------------------------------------------------------- folding within bounds


def test_a_long_static_chain_folds_without_recursion():
    """10,000 static Adds: folding walks them deepest first with its own stack."""
    nodes = [helper.make_node("Add", [f"s{k}", "one"], [f"s{k + 1}"]) for k in range(10_000)]
    nodes += [helper.make_node("Reshape", ["x", "s10000"], ["r"]), helper.make_node("Relu", ["r"], ["y"])]
    m = model(nodes, [value("x", 1, 10_001)], [value("y")], [ints("s0", [1]), ints("one", [10_000])])
    view = view_of(m)
    assert view.value("s10000").tolist() == [1 + 10_000 * 10_000]


def test_window_kernels_and_external_attributes_are_never_folded():
    """A static Conv or MaxPool would loop in Python; a ConstantOfShape whose value is external
    data would read a file: none is evaluated."""
    fill = onnx.TensorProto(name="fill", data_type=TensorProto.FLOAT, dims=[1], data_location=TensorProto.EXTERNAL)
    entry = fill.external_data.add()
    entry.key, entry.value = "location", "fill.bin"
    nodes = [helper.make_node("Conv", ["img", "k"], ["conv"]), helper.make_node("MaxPool", ["img"], ["pool"], kernel_shape=[2, 2]),
             helper.make_node("ConstantOfShape", ["shape"], ["filled"], value=fill), helper.make_node("Add", ["x", "x"], ["y"])]
    m = model(nodes, [value("x", 1, 4)], [value("y", 1, 4)],
              [weight("img", 1, 1, 4, 4), weight("k", 1, 1, 3, 3), ints("shape", [2])])
    view = view_of(m)
    assert [view.value(t) for t in ("conv", "pool", "filled")] == [None, None, None]
    assert view.tensors["conv"].role == STATIC and view.tensors["filled"].shape == (2,)


def test_what_folding_cannot_reach_is_remembered():
    m = model([helper.make_node("Conv", ["img", "k"], ["conv"]), helper.make_node("Add", ["conv", "conv"], ["twice"]),
               helper.make_node("Add", ["x", "x"], ["y"])], [value("x", 1, 4)], [value("y", 1, 4)],
              [weight("img", 1, 1, 4, 4), weight("k", 1, 1, 3, 3)])
    view = view_of(m)
    assert view.value("twice") is None
    assert {"conv", "twice"} <= view.unfoldable
