"""Issue 9: what keeps the legacy and dynamo exports of one model apart, on models built here.

Identical nodes are one computation (DLA34's legacy export keeps a MaxPool twice, dynamo once):
they merge before the walk, so C, U and P̄ are those of the graph with one copy (SPEC §5 example 2).
W (SPEC §3) counts what the framework learns whichever exporter stored it: a relative-position
table gathered in the graph or folded, a folded mask, GroupNorm's identity instance-norm affine,
a recurrence's initial states; each count derived by hand from the tensors built here.
"""
from __future__ import annotations

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, region_bits, value, weight
from onnxlayer.dedupe import merge_duplicate_nodes

POOL = dict(kernel_shape=[2, 2], strides=[2, 2])


def twin_pools(copies: int, chain: bool) -> onnx.ModelProto:
    """SPEC §5 example 2 with the ReLU → MaxPool branch written `copies` times and summed:
    `chain` repeats the ReLU too (the second MaxPool then repeats the first only once the ReLUs merge)."""
    nodes = [helper.make_node("Conv", ["x", "c.w", "c.b"], ["c"], name="/conv", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
             helper.make_node("Relu", ["c"], ["r0"], name="/relu0")]
    pooled = []
    for k in range(copies):
        source = "r0"
        if chain and k:
            nodes.append(helper.make_node("Relu", ["c"], [f"r{k}"], name=f"/relu{k}"))
            source = f"r{k}"
        nodes.append(helper.make_node("MaxPool", [source], [f"p{k}"], name=f"/pool{k}", **POOL))
        pooled.append(f"p{k}")
    total = pooled[0]
    for k, p in enumerate(pooled[1:], 1):
        nodes.append(helper.make_node("Add", [total, p], [f"s{k}"], name=f"/sum{k}"))
        total = f"s{k}"
    nodes += [helper.make_node("Flatten", [total], ["f"], name="/flatten"),
              helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], name="/fc", transB=1)]
    inits = [weight("c.w", 4, 1, 3, 3), weight("c.b", 4), weight("fc.w", 10, 64), weight("fc.b", 10)]
    return model(nodes, [value("x", 1, 1, 8, 8)], [value("y", 1, 10)], inits)


@pytest.mark.parametrize("copies, chain", [(2, False), (3, False), (2, True), (3, True)])
def test_identical_nodes_are_one_leaf(copies, chain):
    """Conv (κ 64) → ReLU: c(256, 2, 64); one MaxPool of 64 windows of 4 on d 64: c(64, 4, 64) = 128;
    the sums of one pooled tensor are linear. C = 332.141078… (SPEC §5 example 2), U = 256 + 64."""
    r = onnxlayer.analyze(twin_pools(copies, chain))
    expected = region_bits(256, 2, 64) + region_bits(64, 4, 64)
    assert r.summary.complexity_bits == pytest.approx(expected, rel=1e-12)
    assert r.summary.complexity_bits == pytest.approx(332.141078, abs=1e-6)
    assert [leaf.op_type for leaf in r.leaves].count("MaxPool") == 1
    assert r.summary.units == 256 + 64


def test_nodes_that_differ_in_an_attribute_stay_apart():
    """A MaxPool of 3×3 windows (stride 2, padded on top and left: 64 windows of 9, on d 64) beside
    the 2×2 one: two leaves, 128 + 64·log2 9 bits."""
    m = twin_pools(2, chain=False)
    nodes = list(m.graph.node)
    other = next(n for n in nodes if n.name == "/pool1")
    other.ClearField("attribute")
    other.attribute.extend([helper.make_attribute("kernel_shape", [3, 3]), helper.make_attribute("strides", [2, 2]),
                            helper.make_attribute("pads", [1, 1, 0, 0])])
    r = onnxlayer.analyze(m)
    assert [leaf.op_type for leaf in r.leaves].count("MaxPool") == 2
    assert r.summary.complexity_bits == pytest.approx(region_bits(256, 2, 64) + 128 + region_bits(64, 9, 64), rel=1e-12)


def test_merging_keeps_graph_outputs_random_draws_and_constants():
    """A repeated node whose output is a graph output stays (its name is the model's contract); two
    random draws are two values; Constant nodes (no inputs: stored values, counted by W) stay. The
    chain Sigmoid → Tanh written twice merges in one pass."""
    nodes = [helper.make_node("Relu", ["x"], ["a"]), helper.make_node("Relu", ["x"], ["b"]),
             helper.make_node("RandomNormalLike", ["x"], ["n1"]), helper.make_node("RandomNormalLike", ["x"], ["n2"]),
             helper.make_node("Constant", [], ["k1"], value_float=1.0), helper.make_node("Constant", [], ["k2"], value_float=1.0),
             helper.make_node("Sigmoid", ["x"], ["s1"]), helper.make_node("Sigmoid", ["x"], ["s2"]),
             helper.make_node("Tanh", ["s1"], ["t1"]), helper.make_node("Tanh", ["s2"], ["t2"]),
             helper.make_node("Sum", ["t1", "t2", "n1", "n2", "k1", "k2"], ["y"])]
    m = model(nodes, [value("x", 1, 4)], [value(o, 1, 4) for o in ("a", "b", "y")])
    assert merge_duplicate_nodes(m) == 2
    assert [n.output[0] for n in m.graph.node] == ["a", "b", "n1", "n2", "k1", "k2", "s1", "t1", "y"]
    assert list(m.graph.node[-1].input) == ["t1", "t1", "n1", "n2", "k1", "k2"]


# --------------------------------------------------------------------------- W: what each exporter stores


def stored(name: str, values: np.ndarray) -> onnx.TensorProto:
    return numpy_helper.from_array(np.asarray(values), name)


RELATIVE = np.subtract.outer(np.arange(4), np.arange(4)) + 3  # offsets i − j + 3 of 4 positions: 0..6, all present
TABLE = np.random.default_rng(3).standard_normal((7, 3)).astype(np.float32)  # 7 offsets × 3 heads


@pytest.mark.parametrize("form", ["gather", "gathernd", "folded"])
@pytest.mark.parametrize("tie", [False, True])
def test_a_relative_position_bias_counts_its_table_in_every_form(form, tie):
    """Attention scores [1,3,4,4] plus a bias gathered from a 7×3 table by the offset of each
    query/key pair: the legacy exporter gathers in the graph (Gather), dynamo with GatherND or
    folds the 3·4·4 = 48 gathered values into a stored tensor. W = 7·3 = 21 in every form (the
    framework's table): a folded tensor repeating its values (21 distinct of 48) counts them, and
    so does a table read by a gather that repeats entries: with two of its values equal by
    chance (`tie`), 20 in every form."""
    table = TABLE.copy()
    if tie:
        table[6, 2] = table[0, 0]
    to_heads = helper.make_node("Transpose", ["rows"], ["bias"], perm=[2, 0, 1])
    add = helper.make_node("Add", ["x", "bias"], ["y"], name="/scores")
    if form == "gather":
        nodes = [helper.make_node("Gather", ["table", "index"], ["rows"]), to_heads, add]
        inits = [stored("table", table), stored("index", RELATIVE.astype(np.int64))]
    elif form == "gathernd":
        nodes = [helper.make_node("GatherND", ["table", "index"], ["rows"]), to_heads, add]
        inits = [stored("table", table), stored("index", RELATIVE[..., None].astype(np.int64))]
    else:
        nodes = [add]
        inits = [stored("bias", table[RELATIVE].transpose(2, 0, 1)[None])]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 3, 4, 4)], [value("y", 1, 3, 4, 4)], inits))
    assert r.summary.params == 21 - tie


def test_a_position_table_read_without_repeats_counts_every_element():
    """Rows 0..3 of a 16×8 position table, two of its values equal, added to the data: 128 (a
    gather that reads each row once is no relative-position index)."""
    table = np.random.default_rng(5).standard_normal((16, 8)).astype(np.float32)
    table[3, 7] = table[0, 0]
    nodes = [helper.make_node("Gather", ["table", "positions"], ["p"]), helper.make_node("Add", ["x", "p"], ["y"], name="/add")]
    inits = [stored("table", table), stored("positions", np.arange(4, dtype=np.int64))]
    assert onnxlayer.analyze(model(nodes, [value("x", 1, 4, 8)], [value("y", 1, 4, 8)], inits)).summary.params == 128


def test_repeated_values_count_in_full_where_they_are_no_gathered_table():
    """A pruned 4×8 MatMul weight (24 zeros) counts 32: only an operand of elementwise arithmetic
    is read as a table; a dequantized int8 4×8 operand of Add with 3 values over 32 counts 32
    (quantized weights count their elements); a float16 3×4×4 table counts its 48 elements
    (16-bit values repeat by chance)."""
    pruned = np.zeros((4, 8), np.float32)
    pruned[0] = np.arange(1, 9)
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="/mm"),
             helper.make_node("DequantizeLinear", ["q", "s"], ["dq"]), helper.make_node("Add", ["h", "dq"], ["y"], name="/q")]
    quantized = np.tile(np.array([[1, 2, 3, 3], [1, 2, 3, 3]], np.int8), (2, 2))  # 4×8, 3 values
    inits = [stored("w", pruned), stored("q", quantized), stored("s", np.array(0.5, np.float32))]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 4, 4)], [value("y", 1, 4, 8)], inits))
    assert [leaf.params for leaf in r.leaves] == [32, 32]
    half = np.float16(TABLE[RELATIVE].transpose(2, 0, 1))
    r = onnxlayer.analyze(model([helper.make_node("Add", ["x", "bias"], ["y"], name="/scores")],
                                [value("x", 1, 3, 4, 4, elem=TensorProto.FLOAT16)],
                                [value("y", 1, 3, 4, 4, elem=TensorProto.FLOAT16)], [stored("bias", half)]))
    assert r.summary.params == 48


def test_a_folded_two_valued_mask_is_no_weight():
    """Swin's shifted-window mask: 0 inside a window, −100 across, stored [4,4,4] by both
    exporters (Where over a bool pattern in the graph would be no weight either): W counts
    the 4-element bias only."""
    pattern = np.kron(np.eye(2), np.ones((2, 2))).astype(bool)
    mask = np.where(np.stack([pattern, ~pattern, pattern, pattern]), 0.0, -100.0).astype(np.float32)
    nodes = [helper.make_node("Add", ["x", "mask"], ["m"], name="/masked"),
             helper.make_node("Add", ["m", "b"], ["y"], name="/bias")]
    inits = [stored("mask", mask), weight("b", 4)]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 4, 4, 4)], [value("y", 1, 4, 4, 4)], inits))
    assert r.summary.params == 4


@pytest.mark.parametrize("learned", [False, True])
def test_an_identity_affine_of_instance_normalization_is_no_weight(learned):
    """GroupNorm(2 groups, 4 channels) as torch exports it: Reshape to [1,2,18],
    InstanceNormalization with scale ones(2) and bias zeros(2), Reshape back, the learned 4×1×1
    scale and bias: W = 8, as torch counts. With learned (non-identity) InstanceNormalization
    affine values, those 2 + 2 count too."""
    scale = TABLE[:2, 0] if learned else np.ones(2, np.float32)
    bias = TABLE[:2, 1] if learned else np.zeros(2, np.float32)
    nodes = [helper.make_node("Reshape", ["x", "grouped"], ["g"]),
             helper.make_node("InstanceNormalization", ["g", "scale", "bias"], ["n"], name="/norm"),
             helper.make_node("Reshape", ["n", "back"], ["nb"]),
             helper.make_node("Mul", ["nb", "gamma"], ["s"], name="/gamma"),
             helper.make_node("Add", ["s", "beta"], ["y"], name="/beta")]
    inits = [stored("grouped", np.array([1, 2, 18], np.int64)), stored("back", np.array([1, 4, 3, 3], np.int64)),
             stored("scale", scale), stored("bias", bias), weight("gamma", 4, 1, 1), weight("beta", 4, 1, 1)]
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 4, 3, 3)], [value("y", 1, 4, 3, 3)], inits))
    assert r.summary.params == 8 + (4 if learned else 0)


def test_the_initial_states_of_a_recurrent_op_are_no_weights():
    """LSTM, hidden 3, input 2, over 5 steps: W 4·3·2 + R 4·3·3 + B 8·3 = 84; the zero initial
    hidden and cell states the legacy exporter stores (dynamo makes them) are where the recurrence
    starts, not weights (torch learns none)."""
    nodes = [helper.make_node("LSTM", ["x", "W", "R", "B", "", "h0", "c0"], ["seq"], name="/lstm", hidden_size=3)]
    inits = [weight("W", 1, 12, 2), weight("R", 1, 12, 3), weight("B", 1, 24),
             stored("h0", np.zeros((1, 1, 3), np.float32)), stored("c0", np.zeros((1, 1, 3), np.float32))]
    r = onnxlayer.analyze(model(nodes, [value("x", 5, 1, 2)], [value("seq", 5, 1, 1, 3)], inits))
    assert r.summary.params == 24 + 36 + 24


@pytest.mark.parametrize("form", ["legacy", "dynamo"])
def test_zeros_written_for_an_absent_bias_are_no_weight(form):
    """A norm without a learned bias (PoolFormerV2): the legacy exporter gives each
    LayerNormalization a zero bias in a Constant node; dynamo adds one zero tensor shared by
    every layer of that width. Neither counts; a zero bias initializer that one layer reads is a
    bias at its initial value and counts (8). Scales: 8 per norm, two norms; W = 2·8 + 8."""
    scales = [weight("s0", 8), weight("s1", 8)]
    own_bias = numpy_helper.from_array(np.zeros(8, np.float32), "b")
    nodes, inits = [], [*scales, own_bias]
    if form == "legacy":
        for k in range(2):
            nodes.append(helper.make_node("Constant", [], [f"z{k}"], value=numpy_helper.from_array(np.zeros(8, np.float32))))
        nodes += [helper.make_node("LayerNormalization", ["x", "s0", "z0"], ["n0"]),
                  helper.make_node("LayerNormalization", ["n0", "s1", "z1"], ["n1"])]
    else:
        inits.append(numpy_helper.from_array(np.zeros(8, np.float32), "zeros"))
        nodes += [helper.make_node("LayerNormalization", ["x", "s0"], ["m0"]), helper.make_node("Add", ["m0", "zeros"], ["n0"]),
                  helper.make_node("LayerNormalization", ["n0", "s1"], ["m1"]), helper.make_node("Add", ["m1", "zeros"], ["n1"])]
    nodes.append(helper.make_node("Add", ["n1", "b"], ["y"]))
    r = onnxlayer.analyze(model(nodes, [value("x", 1, 4, 8)], [value("y", 1, 4, 8)], inits))
    assert r.summary.params == 2 * 8 + 8


def test_a_shared_zero_bias_of_a_size_no_other_tensor_has_is_no_weight():
    """The rule does not depend on another tensor sharing its size (W reads the values of a
    tensor of a unique size only where they can matter): one zero tensor of 5 added in two
    layers counts 0."""
    zeros = numpy_helper.from_array(np.zeros(5, np.float32), "zeros")
    nodes = [helper.make_node("Add", ["x", "zeros"], ["a"]), helper.make_node("Relu", ["a"], ["r"]),
             helper.make_node("Add", ["r", "zeros"], ["y"])]
    assert onnxlayer.analyze(model(nodes, [value("x", 1, 4, 5)], [value("y", 1, 4, 5)], [zeros])).summary.params == 0


@pytest.mark.parametrize("stored_as", ["raw_data", "float_data"])
@pytest.mark.parametrize("source", ["file", "bytes", "proto"])
def test_a_large_weight_stored_twice_counts_once_however_it_is_read(tmp_path, stored_as, source):
    """Two Gemms read two 300×300 initializers (past the size preparation keeps payloads of) with
    equal values: W counts them once (SPEC §3, copies of one tensor), and a third of other values
    in full. The payloads are cut at loading (raw data in a file), kept in the parsed model (typed
    float_data; bytes), or held by the caller's ModelProto: the values are read back each way."""
    rng = np.random.default_rng(7)
    w = rng.normal(size=(300, 300)).astype(np.float32)
    other = rng.normal(size=(300, 300)).astype(np.float32)

    def init(name: str, values: np.ndarray) -> onnx.TensorProto:
        if stored_as == "raw_data":
            return numpy_helper.from_array(values, name)
        return helper.make_tensor(name, TensorProto.FLOAT, values.shape, values.reshape(-1).tolist())

    nodes = [helper.make_node("Gemm", ["x", "w1"], ["h1"]), helper.make_node("Relu", ["h1"], ["r1"]),
             helper.make_node("Gemm", ["r1", "w2"], ["h2"]), helper.make_node("Relu", ["h2"], ["r2"]),
             helper.make_node("Gemm", ["r2", "w3"], ["y"])]
    m = helper.make_model(helper.make_graph(nodes, "g", [value("x", 1, 300)], [value("y", 1, 300)],
                                            [init("w1", w), init("w2", w.copy()), init("w3", other)]),
                          opset_imports=[helper.make_opsetid("", 17)])
    path = tmp_path / "twice.onnx"
    onnx.save(m, path)
    subject = {"file": str(path), "bytes": path.read_bytes(), "proto": onnx.load(path)}[source]
    assert onnxlayer.analyze(subject).summary.params == 2 * 300 * 300
