"""Preparation: input shapes, inference, folding, function expansion and inlining (SPEC §1).

Every data tensor of a prepared view has concrete dims, or preparation stops with an error
that names the tensor and dimension and says how to fix it.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
import onnxlayer.prepare as prepare_module
from builders import mlp, model, value, weight
from onnxlayer.errors import GraphError, SettingsError, ShapeError
from onnxlayer.graph import DATA
from onnxlayer.prepare import prepare
from onnxlayer.registry import REGISTRY


def relu_model(*dims):
    return model([helper.make_node("Relu", ["x"], ["y"], name="/relu")], [value("x", *dims)], [value("y", *dims)])


# --------------------------------------------------------------------------- input shapes


def test_symbolic_non_batch_dim_needs_input_shape():
    m = relu_model("batch", "seq")
    with pytest.raises(onnxlayer.ShapeError, match="seq"):
        onnxlayer.analyze(m)
    r = onnxlayer.analyze(m, {"x": (1, 5)})
    assert r.summary.input_dim == 5


def test_input_shape_symbol_propagates_to_value_info():
    m = relu_model("batch", "seq")
    m.graph.value_info.append(helper.make_tensor_value_info("y", TensorProto.FLOAT, ["batch", "seq"]))
    assert onnxlayer.analyze(m, {"x": (1, 7)}).summary.units == 7


def test_a_symbol_fixed_on_one_input_fixes_it_on_the_others():
    nodes = [helper.make_node("Add", ["a", "b"], ["y"], name="/add")]
    m = model(nodes, [value("a", "batch", "seq"), value("b", "batch", "seq")], [value("y", "batch", "seq")])
    view = prepare(m, {"a": (1, 6)})
    assert view.tensors["b"].shape == (1, 6) and view.tensors["y"].shape == (1, 6)


def test_overriding_a_concrete_input_dim_recomputes_declared_shapes():
    """A model declaring [1, 4, 8, 8] outputs, analysed at 4x4: the declared output is stale."""
    conv = helper.make_node("Conv", ["x", "w"], ["y"], name="/conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    m = model([conv], [value("x", 1, 2, 8, 8)], [value("y", 1, 4, 8, 8)], [weight("w", 4, 2, 3, 3)])
    r = onnxlayer.analyze(m, {"x": (1, 2, 4, 4)})
    assert r.summary.input_dim == 32 and r.summary.output_dim == 4 * 16


# --------------------------------------------------------------------------- errors: message, hint, culprit


def test_open_input_dim_names_input_and_axis():
    with pytest.raises(ShapeError) as info:
        prepare(relu_model("batch", "seq", 3))
    err = info.value
    assert (err.tensor, err.axis) == ("x", 1)
    assert err.message == "input 'x' dim 1 (seq) is not fixed"
    assert err.hint == "give it with --input-shape x=1xseqx3"  # the batch shown as 1, known sizes kept
    assert str(err) == f"{err.message}; {err.hint}"


def test_undeclared_input_shape_names_the_input():
    with pytest.raises(ShapeError) as info:
        prepare(relu_model())
    assert (info.value.tensor, info.value.axis) == ("x", None)
    assert str(info.value) == "input 'x' has no declared shape; give it with --input-shape x=D1xD2x..."


def test_unresolved_intermediate_dim_names_the_tensor():
    """A Reshape to a shape read from an integer input cannot be inferred: its output's dims stay
    open, and no input shape would fix that (the values decide)."""
    nodes = [helper.make_node("Reshape", ["x", "s"], ["r"], name="/reshape"), helper.make_node("Relu", ["r"], ["y"])]
    m = model(nodes, [value("x", 1, 8), value("s", 2, elem=TensorProto.INT64)], [value("y")])
    with pytest.raises(ShapeError) as info:
        prepare(m)
    err = info.value
    assert (err.tensor, err.axis) == ("r", 0)
    assert err.message == ("tensor 'r' (output of Reshape node '/reshape') has an unresolved dim 0 (unk__0): Reshape node "
                           "'/reshape' reads 's', whose value depends on the values of the model's inputs, not their shapes")
    assert err.hint == ""


def test_unknown_op_without_shape_asks_for_value_info():
    nodes = [helper.make_node("Frobnicate", ["x"], ["y"], name="/f", domain="com.example")]
    m = model(nodes, [value("x", 1, 4)], [value("y")])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    with pytest.raises(ShapeError) as info:
        prepare(m)
    assert info.value.tensor == "y"
    assert info.value.hint == "declare 'y' with its shape in the model's value_info"


@pytest.mark.parametrize("shapes,message,hint", [
    ({"z": (1, 4)}, "names 'z', which is not a graph input", "inputs are: x"),
    ({"x": (1, 0)}, "x: dims must be positive integers, got [1, 0]", ""),
    ({"x": (1, 2**63)}, f"x: dim {2**63} exceeds the int64 limit of ONNX", ""),
    ({"x": (1, 4, 4)}, "x: rank 3 given but the input has rank 2", ""),
    ({"x": 4}, "x: expected a sequence of dims, got 4", ""),
])
def test_bad_input_shapes_name_the_setting_and_input(shapes, message, hint):
    with pytest.raises(SettingsError) as info:
        prepare(relu_model("batch", "seq"), shapes)
    err = info.value
    assert (err.setting, err.tensor, err.message, err.hint) == ("input_shapes", next(iter(shapes)), message, hint)
    # the command line's line: its flag opens the sentence the message completes
    assert str(err) == "--input-shape " + message + (f"; {hint}" if hint else "")


# --------------------------------------------------------------------------- inference and folding


def reshape_by_arithmetic():
    """x[batch, 8] → Reshape to [batch, 2, N] with N = Cast(Div(Shape(x)[1], 2)); a Relu after.

    The value_info declares the output with the symbol 'batch', as exporters do.
    """
    c = lambda name, v: numpy_helper.from_array(np.array(v, dtype=np.int64), name)  # noqa: E731
    nodes = [
        helper.make_node("Shape", ["x"], ["s"]),
        helper.make_node("Gather", ["s", "i1"], ["n"], axis=0),
        helper.make_node("Div", ["n", "two"], ["h"]),
        helper.make_node("Cast", ["h"], ["hf"], to=TensorProto.FLOAT),
        helper.make_node("Cast", ["hf"], ["hi"], to=TensorProto.INT64),
        helper.make_node("Unsqueeze", ["hi", "ax0"], ["hu"]),
        helper.make_node("Concat", ["minus1", "two1", "hu"], ["shape"], axis=0),
        helper.make_node("Reshape", ["x", "shape"], ["r"], name="/reshape"),
        helper.make_node("Relu", ["r"], ["y"], name="/relu"),
    ]
    inits = [c("i1", 1), c("two", 2), c("ax0", [0]), c("minus1", [-1]), c("two1", [2])]
    m = model(nodes, [value("x", "batch", 8)], [value("y", "batch", 2, "n")], inits)
    m.graph.value_info.append(helper.make_tensor_value_info("r", TensorProto.FLOAT, ["batch", 2, "n"]))
    return m


def test_shape_arithmetic_is_folded_and_batch_symbol_fixed():
    """ONNX's data propagation stops at the Casts; folding the static inputs resolves the
    Reshape to [1, 2, 8/2]."""
    view = prepare(reshape_by_arithmetic(), None, REGISTRY.has_rule)
    assert view.tensors["r"].shape == (1, 2, 4)
    assert all(t.resolved for t in view.tensors.values() if t.role == DATA)
    relu = onnxlayer.analyze(reshape_by_arithmetic()).leaf("/relu")
    assert relu.groups[0].units == 8 and relu.d_in == 8
    inferred = onnx.shape_inference.infer_shapes(reshape_by_arithmetic(), data_prop=True)  # inference alone leaves it open
    r_info = next(v for v in inferred.graph.value_info if v.name == "r")
    assert not r_info.type.tensor_type.shape.dim[2].HasField("dim_value")


# --------------------------------------------------------------------------- functions


def test_op_without_rule_is_expanded_into_its_onnx_function_body():
    """CenterCropPad has no rule but a (context-dependent) ONNX function: its body's ops become
    the leaves. Cropping [1, 4, 6] to 4×4 on axes 1, 2 keeps 16 of 24 elements."""
    nodes = [helper.make_node("CenterCropPad", ["x", "size"], ["y"], name="/crop", axes=[1, 2])]
    m = model(nodes, [value("x", 1, 4, 6)], [value("y", 1, 4, 4)], [numpy_helper.from_array(np.array([4, 4], np.int64), "size")],
              opset=18)
    assert not REGISTRY.has_rule("CenterCropPad", "", 18)
    view = prepare(m, None, REGISTRY.has_rule)
    assert "CenterCropPad" not in {n.op_type for n in view.nodes}
    r = onnxlayer.analyze(m)
    assert r.summary.opaque_leaves == 0
    assert (r.summary.input_dim, r.summary.output_dim) == (24, 16)


def test_local_functions_are_inlined():
    """A model-local function wrapping Relu analyses as that Relu: 4 units in d = 4, 4 bits."""
    body = helper.make_node("Relu", ["a"], ["b"])
    function = helper.make_function("local", "Act", ["a"], ["b"], [body], [helper.make_opsetid("", 17)])
    m = model([helper.make_node("Act", ["x"], ["y"], name="/act", domain="local")], [value("x", 1, 4)], [value("y", 1, 4)])
    m.functions.append(function)
    m.opset_import.append(helper.make_opsetid("local", 1))
    view = prepare(m, None, REGISTRY.has_rule)
    assert [n.op_type for n in view.nodes] == ["Relu"]
    assert onnxlayer.analyze(m).summary.complexity_bits == 4.0


def test_old_opset_is_upgraded_with_a_warning():
    m = mlp((3, 4, 2))
    m.opset_import[0].version = 6
    m.ir_version = 3
    m.graph.input.extend(helper.make_tensor_value_info(i.name, i.data_type, list(i.dims)) for i in m.graph.initializer)
    view = prepare(m, None, REGISTRY.has_rule)
    assert view.opset == 13 and view.warnings == ["upgraded the model from opset 6 to 13"]
    # SPEC §3: 4 Relu units in d = 3 cut Σ_{j≤3} C(4, j) = 15 regions
    assert onnxlayer.analyze(m).summary.complexity_bits == pytest.approx(math.log2(15), rel=1e-12)


# --------------------------------------------------------------------------- checks before anything reads the model


@pytest.mark.parametrize("dims, error, message", [
    ([2**40, 2**40], ShapeError, f"initializer 'w' claims {2**80} elements"),
    ([4, -1], GraphError, r"initializer 'w' has a negative dim \(\[4, -1\]\)"),
])
def test_stored_tensors_must_count_within_int64(dims, error, message):
    stub = onnx.TensorProto(name="w", data_type=TensorProto.FLOAT, dims=dims, data_location=TensorProto.EXTERNAL)
    entry = stub.external_data.add()
    entry.key, entry.value = "location", "w.bin"
    m = model([helper.make_node("MatMul", ["x", "w"], ["y"])], [value("x", 1, 4)], [value("y")], [stub])
    with pytest.raises(error, match=message):
        prepare(m)


def test_references_are_checked_before_shape_inference(monkeypatch):
    """A dangling read is named before onnx's shape inference ever sees the model."""
    monkeypatch.setattr(prepare_module, "_infer", lambda *a, **k: pytest.fail("shape inference ran"))
    m = model([helper.make_node("Add", ["x", "ghost"], ["y"], name="/add")], [value("x", 1, 4)], [value("y", 1, 4)])
    with pytest.raises(GraphError, match="'/add' \\(Add\\) reads tensor 'ghost'"):
        prepare(m)


def test_versions_newer_than_onnx_knows_are_warned():
    m = model([helper.make_node("Relu", ["x"], ["y"])], [value("x", 1, 4)], [value("y", 1, 4)])
    m.ir_version, m.opset_import[0].version = 99, 999
    newest = (onnx.IR_VERSION, onnx.defs.onnx_opset_version())
    assert prepare(m).warnings[:2] == [
        f"IR version 99 is newer than the installed onnx {onnx.__version__} knows ({newest[0]}); read as IR {newest[0]}",
        f"opset 999 of ai.onnx is newer than the installed onnx {onnx.__version__} knows ({newest[1]}); "
        f"its ops are read with their opset {newest[1]} schemas",
    ]


def _weights_and_a_shape_from_values() -> onnx.ModelProto:
    """A conv with a 1.2 MB weight (its values decide no shape), a Resize whose output shape ONNX
    computes from the values of its scales, and a 1.2 MB float table read by a Slice."""
    rng = np.random.default_rng(0)
    conv_w = rng.normal(size=(64, 32, 12, 12)).astype(np.float32)  # 294,912 elements
    nodes = [
        helper.make_node("Conv", ["x", "conv_w"], ["c"], pads=[0, 0, 0, 0]),
        helper.make_node("Resize", ["c", "", "scales"], ["y"], mode="nearest"),
        helper.make_node("Slice", ["table", "zero", "two"], ["z"]),
    ]
    inits = [numpy_helper.from_array(conv_w, "conv_w"), numpy_helper.from_array(np.array([1, 1, 2, 3], np.float32), "scales"),
             numpy_helper.from_array(np.arange(300_000, dtype=np.float32), "table"),
             numpy_helper.from_array(np.array([0], np.int64), "zero"), numpy_helper.from_array(np.array([2], np.int64), "two")]
    graph = helper.make_graph(nodes, "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 32, 16, 16])],
                              [helper.make_tensor_value_info("y", TensorProto.FLOAT, None),
                               helper.make_tensor_value_info("z", TensorProto.FLOAT, None)], inits)
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])


def test_shape_inference_gets_weights_whose_values_decide_no_shape_as_dims_only():
    """Only the conv weight is left out of what shape inference reads; the types it infers are
    ONNX's own on the whole model, and the inferred model holds the weights, values included."""
    m = _weights_and_a_shape_from_values()
    assert prepare_module._shape_blind_weights(m) == {"conv_w"}
    onnx_own = onnx.shape_inference.infer_shapes(m, check_type=False, strict_mode=False, data_prop=True)
    ours = prepare_module._infer(m)
    assert ours == onnx_own  # every field: types, initializers with their values, nodes, opsets
    assert [v.SerializeToString() for v in ours.graph.value_info] == [v.SerializeToString() for v in onnx_own.graph.value_info]
    assert [o.SerializeToString() for o in ours.graph.output] == [o.SerializeToString() for o in onnx_own.graph.output]
    assert [i.SerializeToString() for i in ours.graph.initializer] == [i.SerializeToString() for i in m.graph.initializer]
    shapes = {v.name: [d.dim_value for d in v.type.tensor_type.shape.dim] for v in [*ours.graph.value_info, *ours.graph.output]}
    assert shapes["c"] == [1, 64, 5, 5] and shapes["y"] == [1, 64, 10, 15]  # (16 − 12) + 1, then × the scales' values


def test_small_or_shared_weights_go_to_shape_inference_whole():
    m = _weights_and_a_shape_from_values()
    m.graph.node.append(helper.make_node("Cast", ["conv_w"], ["w_int"], to=TensorProto.INT64))  # a reader not in SHAPE_BLIND
    assert prepare_module._shape_blind_weights(m) == set()
    small = helper.make_model(helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["y"])], "g", [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 16])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, None)], [numpy_helper.from_array(np.eye(16, dtype=np.float32), "w")]))
    assert prepare_module._shape_blind_weights(small) == set()  # 1 KB: not worth copying the graph
