"""Issue 9, defects 1–3: valid models that crashed or were refused, and folding without a round cap.

Each model is built here; the numbers are derived in the test (SPEC §3: a Relu of u units
on d ≥ u dimensions is u bits).
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
import onnxlayer.prepare as prepare_module
from builders import model, value, weight
from onnxlayer.graph import DATA
from onnxlayer.prepare import prepare


def no_rule(op_type: str, domain: str, opset: int) -> bool:
    """Preparation expands every op that has an ONNX function body (rules added later for
    these ops must not hide what the tests check: the expansion itself)."""
    return False


# --------------------------------------------------------------------------- 1. Scan-8


def scan_body() -> onnx.GraphProto:
    """State h, input x_t: h' = Relu((h + x_t)·W); scan output h'."""
    return helper.make_graph(
        [helper.make_node("Add", ["h_in", "x_t"], ["s"]), helper.make_node("MatMul", ["s", "W"], ["m"]),
         helper.make_node("Relu", ["m"], ["h_out"]), helper.make_node("Identity", ["h_out"], ["o_t"])],
        "body",
        [helper.make_tensor_value_info("h_in", TensorProto.FLOAT, [4]), helper.make_tensor_value_info("x_t", TensorProto.FLOAT, [4])],
        [helper.make_tensor_value_info("h_out", TensorProto.FLOAT, [4]), helper.make_tensor_value_info("o_t", TensorProto.FLOAT, [4])],
    )


def scan8(batch: int, lens: str = "", inits=()) -> onnx.ModelProto:
    """Scan-8: sequence_lens first (empty: every sequence full length), batch axis first, 3 steps."""
    node = helper.make_node("Scan", [lens, "h0", "xs"], ["h", "os"], name="scan", body=scan_body(), num_scan_inputs=1)
    inputs = [value("h0", batch, 4), value("xs", batch, 3, 4)]
    if lens and not inits:
        inputs.append(value("lens", batch, elem=TensorProto.INT32))
    return model([node], inputs, [value("h", batch, 4), value("os", batch, 3, 4)], [weight("W", 4, 4), *inits], opset=8)


def scan9() -> onnx.ModelProto:
    node = helper.make_node("Scan", ["h0", "xs"], ["h", "os"], name="scan", body=scan_body(), num_scan_inputs=1)
    return model([node], [value("h0", 4), value("xs", 3, 4)], [value("h", 4), value("os", 3, 4)], [weight("W", 4, 4)], opset=9)


def test_scan8_with_empty_sequence_lens_is_unrolled_like_scan9():
    """3 steps of a 4-unit Relu: 3 Relu leaves of 4 bits each; W = 16 (the body's weight, once)."""
    r8, r9 = onnxlayer.analyze(scan8(1)), onnxlayer.analyze(scan9())
    for r in (r8, r9):
        relus = [leaf for leaf in r.leaves if leaf.op_type == "Relu"]
        assert [leaf.units for leaf in relus] == [4, 4, 4]
        assert r.summary.complexity_bits == pytest.approx(3 * 4)
        assert (r.summary.input_dim, r.summary.output_dim, r.summary.params) == (4 + 12, 4 + 12, 16)
    assert any("Scan 'scan': unrolled" in w for w in r8.warnings)


def test_scan8_scans_each_batch_element():
    """Batch 2: two independent scans, 6 Relus, everything doubled but the shared weight."""
    r = onnxlayer.analyze(scan8(2))
    assert sum(leaf.op_type == "Relu" for leaf in r.leaves) == 6
    assert (r.summary.input_dim, r.summary.output_dim, r.summary.params) == (32, 32, 16)
    assert r.summary.complexity_bits == pytest.approx(6 * 4)


def test_scan8_with_static_full_sequence_lens_is_unrolled():
    lens = numpy_helper.from_array(np.array([3], np.int32), "lens")
    r = onnxlayer.analyze(scan8(1, "lens", [lens]))
    assert sum(leaf.op_type == "Relu" for leaf in r.leaves) == 3


def test_scan8_with_sequence_lens_from_an_input_stays_rolled():
    """Lengths known only at run time: the Scan stays (an opaque leaf, a note), no crash."""
    r = onnxlayer.analyze(scan8(1, "lens"))
    assert [leaf.op_type for leaf in r.leaves] == ["Scan"]
    assert any("not unrolled" in w for w in r.warnings)


def test_a_node_with_an_empty_first_input_is_a_leaf_like_any_other():
    """Fusion looked up the empty name of an omitted first input (KeyError '')."""
    m = model([helper.make_node("Foo", ["", "x"], ["h"], domain="test.custom", name="/foo"),
               helper.make_node("Relu", ["h"], ["y"], name="/relu")],
              [value("x", 1, 4)], [value("y", 1, 4)])
    m.opset_import.append(helper.make_opsetid("test.custom", 1))
    m.graph.value_info.append(value("h", 1, 4))
    r = onnxlayer.analyze(m)
    assert [leaf.op_type for leaf in r.leaves] == ["Foo", "Relu"] and r.summary.opaque_leaves == 1


# --------------------------------------------------------------------------- 2. wrongful refusals


def test_function_body_subgraphs_read_the_renamed_body_tensors():
    """AffineGrid's ONNX function holds If branches that read body tensors from the enclosing
    scope ('one_1d'); expansion renames them there too. theta 2×2×3 and size (2, 1, 4, 5): a
    2×4×5×2 grid (a batch of 2: the function squeezes every unit axis of theta, the batch's too)."""
    size = numpy_helper.from_array(np.array([2, 1, 4, 5], np.int64), "size")
    m = model([helper.make_node("AffineGrid", ["theta", "size"], ["grid"], name="/grid")],
              [value("theta", 2, 2, 3)], [value("grid", 2, 4, 5, 2)], [size], opset=20)
    view = prepare(m, None, no_rule)
    assert not {"AffineGrid", "If"} & {n.op_type for n in view.nodes}
    assert view.tensors["grid"].shape == (2, 4, 5, 2)
    assert all(t.resolved for t in view.tensors.values() if t.role == DATA)


def test_an_attribute_reference_left_unset_takes_the_schema_default():
    """HannWindow's function casts to its `output_datatype` attribute; unset, the schema default
    (1, float) applies instead of dropping Cast's required `to`."""
    size = numpy_helper.from_array(np.array(8, np.int64), "size")
    m = model([helper.make_node("HannWindow", ["size"], ["w"], name="/window"),
               helper.make_node("Mul", ["x", "w"], ["y"], name="/mul")],
              [value("x", 1, 8)], [value("y", 1, 8)], [size], opset=17)
    view = prepare(m, None, no_rule)
    casts = [n for n in view.nodes if n.op_type == "Cast"]
    assert casts and all(n.attr("to") is not None for n in casts)
    assert view.tensors["w"].elem_type == TensorProto.FLOAT and view.tensors["w"].role != DATA


def _ref(name: str, ref: str, kind: int) -> onnx.AttributeProto:
    """An attribute of a function body's node that refers to the function's attribute `ref`."""
    return onnx.AttributeProto(name=name, ref_attr_name=ref, type=kind)


def local_only(op_type: str, domain: str, opset: int) -> bool:
    """Every op has a rule but the local function's: only it is inlined, LeakyRelu stays whole."""
    return domain != "local"


def local_leak(**call_attrs) -> onnx.ModelProto:
    """A model-local function Leak(x) = Cast(LeakyRelu(x, alpha=@slope), to=@dtype) declaring the
    defaults slope 0.2 and dtype FLOAT, called once with `call_attrs`."""
    leaky = helper.make_node("LeakyRelu", ["x"], ["h"])
    leaky.attribute.append(_ref("alpha", "slope", onnx.AttributeProto.FLOAT))
    cast = helper.make_node("Cast", ["h"], ["z"])
    cast.attribute.append(_ref("to", "dtype", onnx.AttributeProto.INT))
    leak = helper.make_function("local", "Leak", ["x"], ["z"], [leaky, cast], [helper.make_opsetid("", 17)],
                                attribute_protos=[helper.make_attribute("slope", 0.2),
                                                  helper.make_attribute("dtype", TensorProto.FLOAT)])
    m = model([helper.make_node("Leak", ["X"], ["Y"], domain="local", name="/leak", **call_attrs)],
              [value("X", 1, 4)], [value("Y", 1, 4)])
    m.opset_import.append(helper.make_opsetid("local", 1))
    m.functions.append(leak)
    return m


def test_a_local_functions_attribute_default_binds_where_the_call_sets_none():
    """The call omits slope and dtype: the function's declared defaults (0.2, FLOAT) apply — not
    LeakyRelu's schema default 0.01, and not a Cast without its required `to`."""
    view = prepare(local_leak(), None, local_only)
    (leaky,) = [n for n in view.nodes if n.op_type == "LeakyRelu"]
    (cast,) = [n for n in view.nodes if n.op_type == "Cast"]
    assert leaky.attr("alpha") == pytest.approx(0.2) and cast.attr("to") == TensorProto.FLOAT
    assert view.tensors["Y"].role == DATA
    r = onnxlayer.analyze(local_leak())
    assert [(leaf.op_type, [(g.units, g.pieces) for g in leaf.groups]) for leaf in r.leaves] == [("LeakyRelu", [(4, 2)]),
                                                                                                ("Cast", [])]


def test_a_local_functions_attribute_set_by_the_call_wins():
    view = prepare(local_leak(slope=0.5), None, local_only)
    (leaky,) = [n for n in view.nodes if n.op_type == "LeakyRelu"]
    assert leaky.attr("alpha") == pytest.approx(0.5)


@pytest.mark.parametrize("domain, op, attrs", [
    ("ai.onnx.ml", "Scaler", dict(offset=[0.5] * 4, scale=[2.0] * 4)),
    ("ai.onnx.preview.training", "Momentum", None),
])
def test_a_model_importing_no_ai_onnx_opset_is_not_read_as_opset_1(domain, op, attrs):
    """Such a model holds no ai.onnx op: it must not be 'upgraded from opset 1' (the version
    converter refuses it)."""
    if op == "Scaler":
        nodes = [helper.make_node(op, ["x"], ["y"], domain=domain, **attrs)]
        inputs, outputs, inits = [value("x", 1, 4)], [value("y", 1, 4)], []
    else:
        nodes = [helper.make_node(op, ["r", "t", "x", "g", "v"], ["x_new", "v_new"], domain=domain, alpha=0.9, beta=0.1,
                                  mode="standard", norm_coefficient=0.0)]
        inits = [numpy_helper.from_array(np.array(0.1, np.float32), "r"), numpy_helper.from_array(np.array(0, np.int64), "t")]
        inputs = [value("x", 1, 4), value("g", 1, 4), value("v", 1, 4)]
        outputs = [value("x_new", 1, 4), value("v_new", 1, 4)]
    m = helper.make_model(helper.make_graph(nodes, "g", inputs, outputs, inits), opset_imports=[helper.make_opsetid(domain, 1)])
    m.ir_version = 8
    r = onnxlayer.analyze(m)
    assert r.model.opset == onnx.defs.onnx_opset_version()
    assert not any("upgraded" in w for w in r.warnings)
    assert r.summary.input_dim == sum(4 for _ in inputs)


def dropout_model(mask: bool) -> onnx.ModelProto:
    """Opset 9 (Dropout-7): Gemm 4→8 → Dropout (its mask output unused) → Relu."""
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["h"], name="/fc", transB=1),
             helper.make_node("Dropout", ["h"], ["d", "mask"] if mask else ["d"], name="/drop", ratio=0.5),
             helper.make_node("Relu", ["d"], ["y"], name="/relu")]
    return model(nodes, [value("x", 1, 4)], [value("y", 1, 8)], [weight("w", 8, 4), weight("b", 8)], opset=9)


def test_an_unread_dropout_mask_without_a_shape_is_as_if_not_asked_for():
    """ONNX infers no type or shape for Dropout-7's mask; nothing reads it, so the model is the
    same as without it: Relu of 8 units on d = 4."""
    with_mask, without = onnxlayer.analyze(dropout_model(True)), onnxlayer.analyze(dropout_model(False))
    for r in (with_mask, without):
        assert r.summary.complexity_bits == pytest.approx(np.log2(sum(__import__("math").comb(8, j) for j in range(5))))
        assert (r.summary.input_dim, r.summary.params) == (4, 40)


# --------------------------------------------------------------------------- 3. folding to a fixed point


def arithmetic_chain(steps: int) -> onnx.ModelProto:
    """`steps` Reshapes in a row, each target computed from the previous Reshape's shape through
    Div and two Casts, where ONNX's data propagation stops: every Reshape's shape depends on the
    one before it. Each step keeps [1, 8, 4] and ends in a Relu."""
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    inits = [c("i1", 1), c("two", 2), c("ax0", [0]), c("one1", [1]), c("minus1", [-1])]
    nodes, h = [], "x"
    for k in range(steps):
        p = f"s{k}/"
        nodes += [
            helper.make_node("Shape", [h], [p + "shape"]),
            helper.make_node("Gather", [p + "shape", "i1"], [p + "n"], axis=0),
            helper.make_node("Div", [p + "n", "two"], [p + "half"]),
            helper.make_node("Cast", [p + "half"], [p + "f"], to=TensorProto.FLOAT),
            helper.make_node("Cast", [p + "f"], [p + "i"], to=TensorProto.INT64),
            helper.make_node("Mul", [p + "i", "two"], [p + "n2"]),
            helper.make_node("Unsqueeze", [p + "n2", "ax0"], [p + "u"]),
            helper.make_node("Concat", ["one1", p + "u", "minus1"], [p + "target"], axis=0),
            helper.make_node("Reshape", [h, p + "target"], [p + "r"]),
            helper.make_node("Relu", [p + "r"], [p + "y"], name=f"/relu{k}"),
        ]
        h = p + "y"
    return model(nodes, [value("x", 1, 8, 4)], [value(h, 1, 8, 4)], inits)


def test_folding_reaches_the_fixed_point_of_a_long_chain_in_one_pass(monkeypatch):
    """70 dependent shape computations (the old cap was 32 rounds of whole-model inference):
    every Relu has 32 units on d = 32, so C = 70·32 bits; whole-model shape inference runs a
    fixed number of times, not once per step."""
    whole_model_inferences = []
    real_infer = prepare_module._infer

    def counting_infer(*args, **kwargs):
        whole_model_inferences.append(1)
        return real_infer(*args, **kwargs)

    monkeypatch.setattr(prepare_module, "_infer", counting_infer)
    r = onnxlayer.analyze(arithmetic_chain(70))
    relus = [leaf for leaf in r.leaves if leaf.op_type == "Relu"]
    assert len(relus) == 70 and all((leaf.units, leaf.d_in) == (32, 32) for leaf in relus)
    assert r.summary.complexity_bits == pytest.approx(70 * 32)
    assert len(whole_model_inferences) == 1


# --------------------------------------------------------------------------- 2. sequences built in the graph


def test_a_sequence_of_static_positions_is_its_tensors():
    """x [1,4]; seq = (x, Relu x, Tanh x) built with Construct and Insert at a static position;
    SequenceAt 1 is the Relu, ConcatFromSequence the three side by side, SequenceLength 3.
    The walk sees Relu and Tanh on d = 4: 4 + c(4, 13, 4) = 4 + 4·log2 13 bits; outputs 4 + 12."""
    pos = numpy_helper.from_array(np.array(0, np.int64), "pos")
    one = numpy_helper.from_array(np.array(1, np.int64), "one")
    nodes = [helper.make_node("Relu", ["x"], ["a"], name="/relu"), helper.make_node("Tanh", ["x"], ["b"], name="/tanh"),
             helper.make_node("SequenceConstruct", ["a", "b"], ["s1"]),
             helper.make_node("SequenceInsert", ["s1", "x", "pos"], ["s2"]),
             helper.make_node("SequenceAt", ["s2", "one"], ["at"]),
             helper.make_node("ConcatFromSequence", ["s2"], ["cat"], axis=1),
             helper.make_node("SequenceLength", ["s2"], ["n"])]
    m = model(nodes, [value("x", 1, 4)], [value("at", 1, 4), value("cat", 1, 12), value("n", elem=TensorProto.INT64)],
              [pos, one])
    view = prepare(m, None, no_rule)
    assert not any(n.op_type.startswith("Sequence") or n.op_type == "ConcatFromSequence" for n in view.nodes)
    assert view.value("n") == 3
    r = onnxlayer.analyze(m)
    assert [leaf.op_type for leaf in r.leaves if leaf.groups] == ["Relu", "Tanh"]
    assert r.summary.complexity_bits == pytest.approx(4 + 4 * np.log2(13))
    assert (r.summary.input_dim, r.summary.output_dim) == (4, 4 + 12)


def split_stack(keep_sequence_output: bool = False) -> onnx.ModelProto:
    """x [1,3,2] split into its 3 rows (keepdims=0) and stacked back (new_axis) before a Relu."""
    nodes = [helper.make_node("SplitToSequence", ["x"], ["rows"], axis=1, keepdims=0),
             helper.make_node("ConcatFromSequence", ["rows"], ["stacked"], axis=1, new_axis=1),
             helper.make_node("Relu", ["stacked"], ["y"], name="/relu")]
    outputs = [value("y", 1, 3, 2)]
    if keep_sequence_output:
        outputs.append(helper.make_tensor_sequence_value_info("rows", TensorProto.FLOAT, None))
    return model(nodes, [value("x", 1, 3, 2)], outputs)


def test_split_to_sequence_and_back_is_the_identity():
    """The Relu sees all 6 elements: 6 bits, d = 6, as without the sequence."""
    r = onnxlayer.analyze(split_stack())
    relu = r.leaf("/relu")
    assert (relu.units, relu.d_in, r.summary.complexity_bits) == (6, 6, 6)


def test_a_sequence_graph_output_is_its_elements():
    """The rows, handed out as a sequence, are three [1,2] outputs: output_dim 6 + 6."""
    r = onnxlayer.analyze(split_stack(keep_sequence_output=True))
    assert (r.summary.input_dim, r.summary.output_dim) == (6, 12)


def test_an_optional_holding_a_tensor_is_that_tensor():
    nodes = [helper.make_node("Optional", ["x"], ["o"]), helper.make_node("OptionalGetElement", ["o"], ["e"]),
             helper.make_node("OptionalHasElement", ["o"], ["has"]), helper.make_node("Relu", ["e"], ["y"], name="/relu")]
    m = model(nodes, [value("x", 1, 4)], [value("y", 1, 4), value("has", elem=TensorProto.BOOL)], opset=18)
    r = onnxlayer.analyze(m)
    assert r.summary.complexity_bits == 4 and r.summary.opaque_leaves == 0


# --------------------------------------------------------------------------- 4. messages that say what is wrong


def test_a_sequence_input_is_named_as_such_not_asked_for_a_shape():
    m = model([helper.make_node("SequenceAt", ["xs", "i"], ["x0"]), helper.make_node("Add", ["x0", "x"], ["y"])],
              [helper.make_tensor_sequence_value_info("xs", TensorProto.FLOAT, [1, 4]), value("x", 1, 4)], [value("y", 1, 4)],
              [numpy_helper.from_array(np.array(0, np.int64), "i")])
    with pytest.raises(onnxlayer.ShapeError, match="input 'xs' is a sequence of float tensors") as caught:
        onnxlayer.analyze(m)
    assert "--input-shape" not in str(caught.value) + (caught.value.hint or "")


def test_float_data_only_inside_a_sequence_is_named():
    m = model([helper.make_node("SequenceAt", ["xs", "i"], ["x0"]), helper.make_node("Relu", ["x0"], ["y"])],
              [helper.make_tensor_sequence_value_info("xs", TensorProto.FLOAT, [1, 4])], [value("y", 1, 4)],
              [numpy_helper.from_array(np.array(0, np.int64), "i")])
    with pytest.raises(onnxlayer.GraphError, match="no float tensor input: its float data comes in 'xs', a sequence of float tensors"):
        onnxlayer.analyze(m)


def test_a_zero_size_dim_suggests_an_input_shape_that_is_accepted():
    """The hint's N stands for a size of at least 1; given so, the model analyses."""
    m = model([helper.make_node("Relu", ["x"], ["y"], name="/relu")], [value("x", 1, 0, 4)], [value("y", 1, 0, 4)])
    with pytest.raises(onnxlayer.ShapeError, match="dim 1 has size 0") as caught:
        onnxlayer.analyze(m)
    hint = caught.value.hint
    assert "x=1xNx4" in hint and "N ≥ 1" in hint
    dims = tuple(int(d) for d in hint.split("x=", 1)[1].split()[0].replace("N", "3").split("x"))
    assert onnxlayer.analyze(m, {"x": dims}).summary.input_dim == 12
