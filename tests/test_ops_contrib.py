"""onnxruntime's fused ops (ops/contrib.py): each expands into the float ops it stands for.

Two checks per op, independent of each other: onnxruntime computes the same values with its
contrib kernel and with the expansion, and the analysis of the fused form equals that of the
same block written in float ops here (SPEC §4 e: fused-op and decomposed exports agree), with
numbers from SPEC §2 where the block is small enough to count by hand.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
from onnx import TensorProto, helper

import onnxlayer
import onnxlayer.ops  # noqa: F401  (registers the entries)
from builders import region_bits, value
from expansions import MS, RNG, computes_the_same, ms_model, node, random, same_numbers, summary, tensor
from onnxlayer.registry import REGISTRY
from spec_chords import spec_pieces

S, H, N = 6, 8, 2  # sequence, hidden width, heads
HEAD = H // N
INT32, INT64 = TensorProto.INT32, TensorProto.INT64
#: x² on [-8, 8], 1/√x on [1/8, 8] and exp on [-8, 0]: SPEC §2's reference table.
SQUARE_PIECES, RSQRT_PIECES, EXP_PIECES = 81, 14, 8

CONTRIB_OPS = """Attention MultiHeadAttention GroupQueryAttention PackedAttention RotaryEmbedding SkipLayerNormalization
SkipSimplifiedLayerNormalization SimplifiedLayerNormalization EmbedLayerNormalization BiasGelu FastGelu QuickGelu
Gelu BiasAdd BiasSoftmax FusedConv FusedMatMul NhwcConv""".split()


@pytest.mark.parametrize("op", CONTRIB_OPS)
def test_every_contrib_op_of_the_issue_has_an_entry(op):
    entry = REGISTRY.lookup(op, MS, 1)
    assert entry is not None and entry.expand is not None and entry.summary and (entry.pattern or entry.no_pattern)


def test_simplified_layer_normalization_is_known_in_the_default_domain_too():
    """onnxruntime registers it in ai.onnx, which onnx.defs does not know."""
    assert REGISTRY.lookup("SimplifiedLayerNormalization", "", 17).expand is not None


def hidden(name: str = "x", seq: int = S, width: int = H):
    return value(name, 1, seq, width)


def feed(*shape: int) -> np.ndarray:
    return RNG.standard_normal(shape).astype(np.float32)


# ----------------------------------------------------------------------------- attention


def projections(prefix: str = "w"):
    """The packed [Wq|Wk|Wv] weight and bias, and the same numbers as three float projections."""
    w, b = random(f"{prefix}", H, 3 * H), random(f"{prefix}_b", 3 * H)
    from onnx import numpy_helper

    wv, bv = numpy_helper.to_array(w), numpy_helper.to_array(b)
    parts = []
    for k, name in enumerate("qkv"):
        parts += [tensor(f"{name}_w", wv[:, k * H:(k + 1) * H]), tensor(f"{name}_b", bv[k * H:(k + 1) * H])]
    return [w, b], parts


def float_attention(nodes: list, x: str, out: str, masks=(), scale: float | None = None) -> None:
    """BERT's attention as torch.onnx writes it: three projections, heads, Q·Kᵀ / √h, masks, softmax, ·V."""
    for name in "qkv":
        nodes += [node("MatMul", [x, f"{name}_w"], [f"{name}_mm"]), node("Add", [f"{name}_mm", f"{name}_b"], [f"{name}_p"]),
                  node("Reshape", [f"{name}_p", "heads_shape"], [f"{name}_r"]),
                  node("Transpose", [f"{name}_r"], [f"{name}_h"], perm=[0, 2, 3, 1] if name == "k" else [0, 2, 1, 3])]
    nodes += [node("MatMul", ["q_h", "k_h"], ["scores"]), node("Div", ["scores", "sqrt_h"], ["scaled"])]
    last = "scaled"
    for k, mask in enumerate(masks):
        nodes.append(node("Add", [last, mask], [f"masked{k}"]))
        last = f"masked{k}"
    nodes += [node("Softmax", [last], ["probs"], axis=-1), node("MatMul", ["probs", "v_h"], ["context"]),
              node("Transpose", ["context"], ["merged"], perm=[0, 2, 1, 3]), node("Reshape", ["merged", "out_shape"], [out])]


def float_attention_constants():
    return [tensor("heads_shape", [1, -1, N, HEAD], np.int64), tensor("out_shape", [1, -1, H], np.int64),
            tensor("sqrt_h", math.sqrt(HEAD))]


def test_attention_is_its_float_block():
    packed, parts = projections()
    fused = ms_model([node("Attention", ["x", "w", "w_b"], ["y"], domain=MS, num_heads=N)], [hidden()], [hidden("y")], packed)
    nodes = []
    float_attention(nodes, "x", "y")
    got = same_numbers(fused, ms_model(nodes, [hidden()], [hidden("y")], parts + float_attention_constants()))
    # SPEC §2: Q·Kᵀ and ·V hold N·S·S·h products each, two x² units per product, in d = S·H;
    # the softmax: N·S max units of S pieces and N·S·S exp units
    d = S * H
    products = region_bits(2 * N * S * S * HEAD, SQUARE_PIECES, d)
    softmax = region_bits(N * S, S, d) + region_bits(N * S * S, EXP_PIECES, d)
    assert got["complexity_bits"] == pytest.approx(products + softmax + region_bits(2 * N * S * S * HEAD, SQUARE_PIECES, d))
    assert got["macs"] == S * H * 3 * H + 2 * N * S * S * HEAD and got["params"] == 3 * H * H + 3 * H
    computes_the_same(fused, {"x": feed(1, S, H)})


def test_attention_with_a_mask_index_and_causal_masking_computes_the_same():
    packed, _ = projections()
    inputs = [hidden(), value("mask_index", 1, elem=INT32)]
    for unidirectional in (0, 1):
        fused = ms_model([node("Attention", ["x", "w", "w_b", "mask_index"], ["y"], domain=MS, num_heads=N,
                               unidirectional=unidirectional)], inputs, [hidden("y")], packed)
        computes_the_same(fused, {"x": feed(1, S, H), "mask_index": np.array([S - 2], np.int32)})


def test_multi_head_attention_is_its_float_block():
    """The GPU form: projections outside, a packed bias and the heads inside."""
    packed, parts = projections()
    proj = [node("MatMul", ["x", f"{n}_w"], [f"{n}_mm"]) for n in "qkv"]
    fused = ms_model(proj + [node("MultiHeadAttention", ["q_mm", "k_mm", "v_mm", "w_b"], ["y"], domain=MS, num_heads=N)],
                     [hidden()], [hidden("y")], parts[0::2] + packed[1:])
    nodes = []
    float_attention(nodes, "x", "y")
    same_numbers(fused, ms_model(nodes, [hidden()], [hidden("y")], parts + float_attention_constants()))
    computes_the_same(fused, {"x": feed(1, S, H)})


@pytest.mark.parametrize("window_and_cap", [{}, {"local_window_size": 2, "softcap": 5.0}])
def test_group_query_attention_shares_key_heads(window_and_cap):
    """4 query heads over 2 key/value heads, causal (a sliding window, a softcap): the products of 4 heads."""
    q_heads, kv_heads, h = 4, 2, 8  # onnxruntime wants head sizes in multiples of 8
    inputs = [value("q", 1, S, q_heads * h), value("k", 1, S, kv_heads * h), value("v", 1, S, kv_heads * h),
              value("seqlens_k", 1, elem=INT32), helper.make_tensor_value_info("total", INT32, [])]
    gqa = node("GroupQueryAttention", ["q", "k", "v", "", "", "seqlens_k", "total"], ["y"], domain=MS, num_heads=q_heads,
               kv_num_heads=kv_heads, **window_and_cap)
    fused = ms_model([gqa], inputs, [value("y", 1, S, q_heads * h)])
    feeds = {"q": feed(1, S, q_heads * h), "k": feed(1, S, kv_heads * h), "v": feed(1, S, kv_heads * h),
             "seqlens_k": np.array([S - 1], np.int32), "total": np.array(S, np.int32)}
    computes_the_same(fused, feeds)
    leaves = onnxlayer.analyze(fused).leaves
    products = [leaf for leaf in leaves if leaf.kind == "product"]
    assert [leaf.groups[0].units for leaf in products] == [2 * q_heads * S * S * h] * 2


def test_packed_attention_is_attention_over_its_tokens():
    packed, _ = projections()
    offsets = [value("token_offset", 1, S, elem=INT32), value("cumulative", 2, elem=INT32)]
    fused = ms_model([node("PackedAttention", ["x", "w", "w_b", "token_offset", "cumulative"], ["y"], domain=MS, num_heads=N)],
                     [value("x", S, H)] + offsets, [value("y", S, H)], packed)
    batched = ms_model([node("Attention", ["x", "w", "w_b"], ["y"], domain=MS, num_heads=N)], [hidden()], [hidden("y")], packed)
    got, want = summary(fused), summary(batched)
    assert got == pytest.approx(want, rel=1e-9)


def test_rotary_embedding_computes_the_same_and_is_linear_at_stored_positions():
    half = HEAD // 2
    angles = np.arange(16)[:, None] * (1.0 / 10000 ** (np.arange(half) / half))
    caches = [tensor("cos", np.cos(angles)), tensor("sin", np.sin(angles))]
    for interleaved in (0, 1):
        fused = ms_model([node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], domain=MS, num_heads=N,
                               interleaved=interleaved)],
                         [hidden(), value("pos", 1, S, elem=INT64)], [hidden("y")], caches)
        computes_the_same(fused, {"x": feed(1, S, H), "pos": np.arange(S, dtype=np.int64)[None]})
    stored = ms_model([node("RotaryEmbedding", ["x", "pos", "cos", "sin"], ["y"], domain=MS, num_heads=N)], [hidden()],
                      [hidden("y")], caches + [tensor("pos", np.arange(S)[None], np.int64)])
    s = summary(stored)
    assert s["complexity_bits"] == 0 and s["intrinsic_power"] == 0 and s["input_dim"] == S * H


# ----------------------------------------------------------------------------- embeddings and norms


def test_embed_layer_normalization_is_its_float_block():
    """Word and segment lookups are the sources (SPEC §1), positions are static."""
    vocab = 20
    tables = [random("word", vocab, H), random("pos", 16, H), random("seg", 2, H), random("gamma", H), random("beta", H)]
    ids = [value("ids", 1, S, elem=INT32), value("segments", 1, S, elem=INT32)]
    fused = ms_model([node("EmbedLayerNormalization", ["ids", "segments", "word", "pos", "seg", "gamma", "beta"],
                           ["y", "mask_index"], domain=MS, epsilon=1e-12)], ids, [hidden("y")], tables)
    nodes = [node("Gather", ["word", "ids"], ["w"]), node("Gather", ["seg", "segments"], ["s"]), node("Add", ["w", "s"], ["ws"]),
             node("Gather", ["pos", "positions"], ["p"]), node("Add", ["ws", "p"], ["sum"]),
             node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12)]
    plain = ms_model(nodes, ids, [hidden("y")], tables + [tensor("positions", np.arange(S)[None], np.int64)])
    got = same_numbers(fused, plain)
    assert got["input_dim"] == 2 * S * H and got["params"] == (vocab + 16 + 2 + 2) * H
    assert got["complexity_bits"] == pytest.approx(S * math.log2(RSQRT_PIECES))  # S normalised groups in d ≥ S
    computes_the_same(fused, {"ids": RNG.integers(0, vocab, (1, S)).astype(np.int32), "segments": np.zeros((1, S), np.int32)},
                      atol=1e-3)


def skip_inputs():
    return [hidden(), hidden("skip")], [random("gamma", H), random("beta", H), random("bias", H)]


def test_skip_layer_normalization_is_a_sum_then_the_norm():
    """Output 3 (the sum) carries the sum's rank, not the normalization's (SPEC §2: size − 2G)."""
    inputs, inits = skip_inputs()
    outputs = [hidden("y"), hidden("sum")]
    fused = ms_model([node("SkipLayerNormalization", ["x", "skip", "gamma", "beta", "bias"], ["y", "", "", "sum"], domain=MS)],
                     inputs, outputs, inits)
    plain = ms_model([node("Add", ["x", "bias"], ["xb"]), node("Add", ["xb", "skip"], ["sum"]),
                      node("LayerNormalization", ["sum", "gamma", "beta"], ["y"], axis=-1, epsilon=1e-12)], inputs, outputs, inits)
    got = same_numbers(fused, plain)
    # D0 = 2·S·H; the sum: d = S·H; the norm's output S·H − 2S; P = log2((S·H + S·H − 2S) / D0)
    assert got["intrinsic_power"] == pytest.approx(math.log2((2 * S * H - 2 * S) / (2 * S * H)))
    computes_the_same(fused, {"x": feed(1, S, H), "skip": feed(1, S, H)})


def rms_block(x: str, out: str, nodes: list) -> None:
    """RMSNorm as torch.onnx writes LLaMA's: x·(mean(x²) + ε)^−½·γ."""
    nodes += [node("Pow", [x, "two"], ["sq"]), node("ReduceMean", ["sq"], ["ms"], axes=[-1]), node("Add", ["ms", "eps"], ["mse"]),
              node("Sqrt", ["mse"], ["rms"]), node("Div", [x, "rms"], ["normed"]), node("Mul", ["normed", "gamma"], [out])]


def rms_constants():
    return [tensor("two", 2.0), tensor("eps", 1e-6)]


def test_skip_simplified_layer_normalization_is_a_sum_then_rms_norm():
    inputs, inits = skip_inputs()
    fused = ms_model([node("SkipSimplifiedLayerNormalization", ["x", "skip", "gamma", "bias"], ["y"], domain=MS, epsilon=1e-6)],
                     inputs, [hidden("y")], inits[:1] + inits[2:])
    nodes = [node("Add", ["x", "bias"], ["xb"]), node("Add", ["xb", "skip"], ["sum"])]
    rms_block("sum", "y", nodes)
    same_numbers(fused, ms_model(nodes, inputs, [hidden("y")], inits[:1] + inits[2:] + rms_constants(), opset=17))
    computes_the_same(fused, {"x": feed(1, S, H), "skip": feed(1, S, H)})


@pytest.mark.parametrize("domain", ["", MS])
def test_simplified_layer_normalization_is_rms_norm(domain):
    fused = ms_model([node("SimplifiedLayerNormalization", ["x", "gamma"], ["y"], domain=domain, epsilon=1e-6)], [hidden()],
                     [hidden("y")], [random("gamma", H)])
    nodes = []
    rms_block("x", "y", nodes)
    same_numbers(fused, ms_model(nodes, [hidden()], [hidden("y")], [random("gamma", H)] + rms_constants(), opset=17))
    if domain == "":  # onnxruntime's kernel is registered in the default domain
        computes_the_same(fused, {"x": feed(1, S, H)})


# ----------------------------------------------------------------------------- activations and biases


GELU = lambda v: 0.5 * v * (1 + np.vectorize(math.erf)(v / math.sqrt(2)))  # noqa: E731
GELU_TANH = lambda v: 0.5 * v * (1 + np.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v ** 3)))  # noqa: E731


@pytest.mark.parametrize("op,inputs,function", [
    ("Gelu", ["x"], GELU),
    ("BiasGelu", ["x", "bias"], GELU),
    ("FastGelu", ["x", "bias"], GELU_TANH),
    ("QuickGelu", ["x"], lambda v: v / (1 + np.exp(-1.702 * v))),
])
def test_gelu_family_is_one_unit_per_element_with_the_function_s_pieces(op, inputs, function):
    fused = ms_model([node(op, inputs, ["y"], domain=MS)], [hidden()], [hidden("y")], [random("bias", H)][:len(inputs) - 1])
    leaves = [leaf for leaf in onnxlayer.analyze(fused).leaves if leaf.groups]
    assert [(g.units, g.pieces) for leaf in leaves for g in leaf.groups] == [(S * H, spec_pieces(function, -8, 8))]
    computes_the_same(fused, {"x": feed(1, S, H)})


def test_quick_gelu_reads_alpha():
    fused = ms_model([node("QuickGelu", ["x"], ["y"], domain=MS, alpha=1.0)], [hidden()], [hidden("y")])
    (leaf,) = [leaf for leaf in onnxlayer.analyze(fused).leaves if leaf.groups]
    assert leaf.groups[0].pieces == 13  # SPEC table: x·σ(x)


def test_bias_add_is_linear():
    fused = ms_model([node("BiasAdd", ["x", "bias", "skip"], ["y"], domain=MS)], [hidden(), hidden("skip")], [hidden("y")],
                     [random("bias", H)])
    s = summary(fused)
    assert s["complexity_bits"] == 0 and s["input_dim"] == 2 * S * H and s["intrinsic_power"] == -1.0 and s["params"] == H
    # onnxruntime has no CPU kernel for BiasAdd to compare with


def test_bias_softmax_is_a_sum_then_softmax():
    scores = value("scores", 1, N, S, S)
    fused = ms_model([node("BiasSoftmax", ["scores", "mask"], ["y"], domain=MS, axis=-1, is_inner_broadcast=0)],
                     [scores, value("mask", 1, 1, S, S)], [value("y", 1, N, S, S)])
    plain = ms_model([node("Add", ["scores", "mask"], ["sum"]), node("Softmax", ["sum"], ["y"], axis=-1)],
                     [scores, value("mask", 1, 1, S, S)], [value("y", 1, N, S, S)])
    same_numbers(fused, plain)


# ----------------------------------------------------------------------------- products and convolutions


@pytest.mark.parametrize("attrs,a_shape,b_shape", [
    ({"alpha": 0.25, "transB": 1}, (1, N, S, HEAD), (1, N, S, HEAD)),
    ({"transA": 1}, (1, N, HEAD, S), (1, N, HEAD, S)),
    ({"transBatchA": 1}, (S, N, HEAD), (N, HEAD, S)),
    ({"transBatchB": 1, "transB": 1}, (N, S, HEAD), (S, N, HEAD)),
])
def test_fused_matmul_is_transposes_and_a_scaled_matmul(attrs, a_shape, b_shape):
    inputs = [value("a", *a_shape), value("b", *b_shape)]
    fused = ms_model([node("FusedMatMul", ["a", "b"], ["y"], domain=MS, **attrs)], inputs, [value("y")])
    ours = computes_the_same(fused, {"a": feed(*a_shape), "b": feed(*b_shape)})
    (matmul,) = [n for n in ours.graph.node if n.op_type == "MatMul"]
    s = summary(fused)
    out = [d.dim_value for d in next(v for v in ours.graph.output if v.name == "y").type.tensor_type.shape.dim]
    k = HEAD if a_shape[-1] != S or attrs.get("transA") else S
    assert s["macs"] == math.prod(out) * k and s["complexity_bits"] > 0 and matmul is not None


def test_fused_matmul_with_a_stored_weight_is_linear():
    fused = ms_model([node("FusedMatMul", ["x", "w"], ["y"], domain=MS, transB=1, alpha=2.0)], [hidden()], [hidden("y")],
                     [random("w", H, H)])
    plain = ms_model([node("Transpose", ["w"], ["wt"]), node("MatMul", ["x", "wt"], ["m"]), node("Mul", ["m", "two"], ["y"])],
                     [hidden()], [hidden("y")], [random("w", H, H), tensor("two", 2.0)])
    got = same_numbers(fused, plain)
    assert got["complexity_bits"] == 0 and got["macs"] == S * H * H and got["params"] == H * H


IMAGE = (1, 3, 8, 8)


@pytest.mark.parametrize("activation,params,float_act", [
    ("Relu", [], [node("Relu", ["c"], ["y"])]),
    ("LeakyRelu", [0.1], [node("LeakyRelu", ["c"], ["y"], alpha=0.1)]),
    ("Clip", [0.0, 6.0], [node("Clip", ["c", "lo", "hi"], ["y"])]),
    ("Sigmoid", [], [node("Sigmoid", ["c"], ["y"])]),
])
def test_fused_conv_is_conv_then_activation(activation, params, float_act):
    inits = [random("w", 4, 3, 3, 3), random("b", 4)]
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    if params:
        attrs_of_act = dict(activation=activation, activation_params=params)
    else:
        attrs_of_act = dict(activation=activation)
    fused = ms_model([node("FusedConv", ["x", "w", "b"], ["y"], domain=MS, **attrs_of_act, **attrs)], [value("x", *IMAGE)],
                     [value("y", 1, 4, 8, 8)], inits)
    plain = ms_model([node("Conv", ["x", "w", "b"], ["c"], **attrs)] + float_act, [value("x", *IMAGE)], [value("y", 1, 4, 8, 8)],
                     inits + [tensor("lo", 0.0), tensor("hi", 6.0)])
    got = same_numbers(fused, plain)
    assert got["macs"] == 4 * 64 * 27 and got["params"] == 4 * 27 + 4
    computes_the_same(fused, {"x": feed(*IMAGE)})


def test_fused_conv_with_a_residual_sums_before_the_activation():
    inits = [random("w", 3, 3, 3, 3)]
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    fused = ms_model([node("FusedConv", ["x", "w", "", "z"], ["y"], domain=MS, activation="Relu", **attrs)],
                     [value("x", *IMAGE), value("z", *IMAGE)], [value("y", *IMAGE)], inits)
    plain = ms_model([node("Conv", ["x", "w"], ["c"], **attrs), node("Add", ["c", "z"], ["s"]), node("Relu", ["s"], ["y"])],
                     [value("x", *IMAGE), value("z", *IMAGE)], [value("y", *IMAGE)], inits)
    same_numbers(fused, plain)
    computes_the_same(fused, {"x": feed(*IMAGE), "z": feed(*IMAGE)})


def test_nhwc_conv_is_the_conv_on_channels_last_data():
    weights = random("w", 4, 3, 3, 3)  # [M, kH, kW, C]
    from onnx import numpy_helper

    oihw = tensor("w", numpy_helper.to_array(weights).transpose(0, 3, 1, 2))
    attrs = dict(kernel_shape=[3, 3], pads=[1, 1, 1, 1])
    fused = ms_model([node("NhwcConv", ["x", "w"], ["y"], domain=MS, **attrs)], [value("x", 1, 8, 8, 3)], [value("y", 1, 8, 8, 4)],
                     [weights])
    plain = ms_model([node("Transpose", ["x"], ["xc"], perm=[0, 3, 1, 2]), node("Conv", ["xc", "w"], ["c"], **attrs),
                      node("Transpose", ["c"], ["y"], perm=[0, 2, 3, 1])], [value("x", 1, 8, 8, 3)], [value("y", 1, 8, 8, 4)], [oihw])
    got = same_numbers(fused, plain)
    assert got["macs"] == 4 * 64 * 27


def test_an_unsupported_feature_is_one_clear_error():
    packed, _ = projections()
    fused = ms_model([node("Attention", ["x", "w", "w_b", "", "past"], ["y"], domain=MS, num_heads=N)],
                     [hidden(), value("past", 2, 1, N, 3, HEAD)], [hidden("y")], packed)
    with pytest.raises(onnxlayer.OnnxLayerError, match=r"Attention.*past state is not supported"):
        onnxlayer.analyze(fused)


def test_a_deep_stack_of_fused_layers_expands_layer_after_layer():
    """Each MultiHeadAttention waits for its input's shape, which the layer before gives once
    expanded: as many rounds as layers, every one expanded."""
    layers = 12
    nodes, inits, x = [], [], "x"
    for i in range(layers):
        inits += [random(f"w{i}{n}", H, H) for n in "qkv"] + [random(f"b{i}", 3 * H)]
        nodes += [node("MatMul", [x, f"w{i}{n}"], [f"{n}{i}"]) for n in "qkv"]
        nodes.append(node("MultiHeadAttention", [f"q{i}", f"k{i}", f"v{i}", f"b{i}"], [f"a{i}"], domain=MS, num_heads=N))
        x = f"a{i}"
    fused = ms_model(nodes, [hidden()], [hidden(x)], inits)
    s = summary(fused)
    assert s["opaque_leaves"] == 0 and s["macs"] == layers * (3 * S * H * H + 2 * N * S * S * HEAD)
    computes_the_same(fused, {"x": feed(1, S, H)}, atol=1e-3)


def test_packed_group_query_attention_and_partial_rotary():
    """QKV packed in one tensor, rotary on the first half of each head (caches of width h/4)."""
    q_heads, kv_heads, h = 2, 1, 32  # onnxruntime: cache widths in multiples of 8
    angles = np.arange(32)[:, None] * (1.0 / 10000 ** (np.arange(h // 4) / (h // 4)))
    caches = [tensor("cos", np.cos(angles)), tensor("sin", np.sin(angles))]
    width = (q_heads + 2 * kv_heads) * h
    inputs = [value("qkv", 1, S, width), value("seqlens_k", 1, elem=INT32), helper.make_tensor_value_info("total", INT32, [])]
    gqa = node("GroupQueryAttention", ["qkv", "", "", "", "", "seqlens_k", "total", "cos", "sin"], ["y"], domain=MS,
               num_heads=q_heads, kv_num_heads=kv_heads, do_rotary=1)
    fused = ms_model([gqa], inputs, [value("y", 1, S, q_heads * h)], caches)
    computes_the_same(fused, {"qkv": feed(1, S, width), "seqlens_k": np.array([S - 1], np.int32), "total": np.array(S, np.int32)})


def test_a_node_that_does_not_fit_its_op_is_one_clear_error():
    """No num_heads (required by onnxruntime's schema): a one-line error naming the node, not a traceback."""
    packed, _ = projections()
    fused = ms_model([node("Attention", ["x", "w", "w_b"], ["y"], domain=MS)], [hidden()], [hidden("y")], packed)
    with pytest.raises(onnxlayer.OnnxLayerError, match=r"node '/Attention/y' \(com.microsoft::Attention\) cannot be read"):
        onnxlayer.analyze(fused)
