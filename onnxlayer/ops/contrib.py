"""onnxruntime's fused ops (`com.microsoft`; SimplifiedLayerNormalization also in ai.onnx), each
expanded in preparation into the float ops it stands for (SPEC §4 e).

An attention op is three nonlinear leaves (Q·Kᵀ, Softmax, ·V) of the float export, a skip layer
norm a sum before its normalization, a fused conv a conv before its activation: expanded, each
part gets its own leaf, so that d, P̄, the depth and the profile are those of the float export,
and ONNX infers the shapes (it has no shape function for these ops). The subgraphs follow
onnxruntime's contrib-op specification; a feature an expansion does not read (a past state for
`Attention`, internal rotary) is refused with a one-line error rather than guessed.
"""
from __future__ import annotations

import math
from typing import Sequence

from .. import onnxapi
from ..deferred import numpy as np
from ..expansion import Deferred, Expansion
from ..onnxapi import TensorProto
from ..registry import expands

MS = "com.microsoft"
#: onnxruntime's default additive mask value where a mask blocks a key.
MASK_FILTER_VALUE = -10000.0
INT32, INT64 = TensorProto.INT32, TensorProto.INT64


# ----------------------------------------------------------------------------- building blocks


def _with_bias(x: Expansion, t: str, bias: str) -> str:
    return x.op("Add", [t, bias]) if bias else t


def scalar_dim(x: Expansion, t: str, axis: int) -> str:
    """Dimension `axis` of `t` as an int64 scalar (static: computed from the shape)."""
    return x.op("Squeeze", [x.dim(t, axis)])


def heads(x: Expansion, t: str, count: int, keys: bool = False) -> str:
    """[B, S, N·h] → [B, N, S, h] ([B, N, h, S] for keys, as Q·Kᵀ reads them)."""
    split = x.op("Reshape", [t, x.ints([0, 0, count, -1])])
    return x.op("Transpose", [split], perm=[0, 2, 3, 1] if keys else [0, 2, 1, 3])


def repeat_heads(x: Expansion, t: str, times: int) -> str:
    """[B, Nkv, T, h] → [B, Nkv·times, T, h]: each key/value head serves `times` query heads."""
    if times == 1:
        return t
    grown = x.unsqueeze(t, [2])  # [B, Nkv, 1, T, h]
    tiled = x.op("Expand", [grown, x.op("Mul", [x.op("Shape", [grown]), x.ints([1, 1, times, 1, 1])])])
    return x.op("Reshape", [tiled, x.op("Concat", [x.dim(t, 0), x.ints([-1]), x.dim(t, 2), x.dim(t, 3)], axis=0)])


def attend(x: Expansion, q_heads: str, k_heads_t: str, v_heads: str, scale: float | None, masks: Sequence[str],
           output: str | None, dtype: np.dtype, softcap: float = 0.0) -> str:
    """softmax(Q·Kᵀ·scale (+ masks)) · V over heads of float type `dtype`, merged back to
    [B, S, N·hv] (into `output`); `scale` None: 1/√h of the heads' width h, from the shape (static)."""
    if scale is None:
        width = x.op("Cast", [x.dim(q_heads, 3)], to=helper_type(dtype))
        factor = x.op("Reciprocal", [x.op("Sqrt", [width])])
    else:
        factor = x.constant(scale, dtype)
    scores = x.op("Mul", [x.op("MatMul", [q_heads, k_heads_t]), factor])
    if softcap > 0:
        capped = x.op("Tanh", [x.op("Div", [scores, x.constant(softcap, dtype)])])
        scores = x.op("Mul", [capped, x.constant(softcap, dtype)])
    for mask in masks:
        scores = x.op("Add", [scores, mask])
    context = x.op("MatMul", [x.softmax(scores), v_heads])
    return x.op("Reshape", [x.op("Transpose", [context], perm=[0, 2, 1, 3]), x.ints([0, 0, -1])], output or 1)


def padding_mask(x: Expansion, mask: str, batch_of: str, keys_of: str, key_axis: int, filter_value: float,
                 dtype: np.dtype, inclusive: bool = False) -> str:
    """The additive mask [B, 1, 1|S, T] of a key padding mask: valid lengths per sequence ([B];
    [2B] with start positions; `inclusive`: the last valid index) or keep flags ([B, T], [B, S, T]).
    Built once per mask tensor: one float tensor from the integer mask, the source it is in the
    float export (SPEC §1)."""

    def build(output: str) -> None:
        rank = x.rank(mask)
        keys = scalar_dim(x, keys_of, key_axis)
        if rank == 1:
            if x.dims(batch_of) is None:
                raise Deferred(batch_of)
            length, batch = x.dims(mask)[0], x.dims(batch_of)[0]
            if not isinstance(length, int) or not isinstance(batch, int) or length not in (batch, 2 * batch):
                raise x.unsupported(f"a 1-D mask of length {length} for a batch of {batch}")
            positions = x.op("Range", [x.constant(0, np.int64), keys, x.constant(1, np.int64)])
            ends = x.op("Cast", [x.slice(mask, [0], [batch], [0]) if length == 2 * batch else mask], to=INT64)
            ends = x.unsqueeze(ends, [1])
            blocked = x.op("Greater", [positions, ends]) if inclusive else x.op("Not", [x.op("Less", [positions, ends])])
            if length == 2 * batch:
                starts = x.unsqueeze(x.op("Cast", [x.slice(mask, [batch], [2 * batch], [0])], to=INT64), [1])
                blocked = x.op("Or", [blocked, x.op("Less", [positions, starts])])
            keep = x.op("Cast", [x.op("Not", [blocked])], to=helper_type(dtype))
            keep = x.unsqueeze(keep, [1, 2])
        elif rank in (2, 3):
            keep = x.unsqueeze(x.op("Cast", [mask], to=helper_type(dtype)), [1, 2] if rank == 2 else [1])
        else:
            raise x.unsupported(f"a {rank}-D attention mask")
        x.op("Mul", [x.op("Sub", [x.constant(1.0, dtype), keep]), x.constant(filter_value, dtype)], output)

    return x.shared(f"{mask}__{'inclusive_' if inclusive else ''}additive_mask_{filter_value:g}", build)


def causal_mask(x: Expansion, queries_of: str, query_axis: int, keys_of: str, key_axis: int, filter_value: float,
                dtype: np.dtype, window: int = -1) -> str:
    """[S, T] additive mask: query i (at absolute position T − S + i) sees keys j ≤ T − S + i, and
    with a window only the last `window` of them. Static: computed from the shapes."""
    s, t = scalar_dim(x, queries_of, query_axis), scalar_dim(x, keys_of, key_axis)
    zero, one = x.constant(0, np.int64), x.constant(1, np.int64)
    offset = x.op("Sub", [t, s])
    rows = x.unsqueeze(x.op("Add", [x.op("Range", [zero, s, one]), offset]), [1])
    cols = x.unsqueeze(x.op("Range", [zero, t, one]), [0])
    blocked = x.op("Greater", [cols, rows])
    if window > 0:
        blocked = x.op("Or", [blocked, x.op("Not", [x.op("Greater", [cols, x.op("Sub", [rows, x.constant(window, np.int64)])])])])
    return x.op("Mul", [x.op("Cast", [blocked], to=helper_type(dtype)), x.constant(filter_value, dtype)])


def helper_type(dtype: np.dtype) -> int:
    """The ONNX element type of a numpy type (a Cast's `to`)."""
    return onnxapi.helper.np_dtype_to_tensor_dtype(np.dtype(dtype))


def positions(x: Expansion, position_ids: str, queries_of: str, query_axis: int, past: str = "") -> str:
    """Position ids as [B|1, S]: given ([B, S]; [1]: an offset), else the past length + 0..S−1."""
    if position_ids and x.rank(position_ids) == 2:
        return position_ids
    s = scalar_dim(x, queries_of, query_axis)
    start = x.op("Cast", [x.op("Squeeze", [position_ids])], to=INT64) if position_ids else (
        scalar_dim(x, past, 2) if past else x.constant(0, np.int64))
    ids = x.op("Range", [start, x.op("Add", [start, s]), x.constant(1, np.int64)])
    return x.unsqueeze(ids, [0])


def rotary(x: Expansion, t: str, position_ids: str, cos_cache: str, sin_cache: str, interleaved: bool,
           head_size: int | None, heads_axis: int, output: str | None = None) -> str:
    """RoPE on the last axis of `t` ([B, S, N, h] with heads_axis 2, or [B, N, S, h] with 1): the
    first 2·c channels (c = the caches' width) rotated by the angles at `position_ids` [B|1, S];
    `head_size` None: the caches cover the whole head."""
    half = x.static_dims(cos_cache)[1]
    rot = 2 * half
    head_size = head_size or rot

    def angle(cache: str) -> str:
        a = x.op("Gather", [cache, position_ids], axis=0)  # [B|1, S, c]
        return x.unsqueeze(a, [heads_axis])

    cos, sin = angle(cos_cache), angle(sin_cache)
    turned, rest = (x.split(t, [rot, head_size - rot], -1) if rot < head_size else (t, ""))
    if interleaved:
        pairs = x.op("Reshape", [turned, x.ints([0, 0, 0, half, 2])])
        first, second = x.split(pairs, [1, 1], -1)
        cos, sin = x.unsqueeze(cos, [4]), x.unsqueeze(sin, [4])
    else:
        first, second = x.split(turned, [half, half], -1)
    out_first = x.op("Sub", [x.op("Mul", [first, cos]), x.op("Mul", [second, sin])])
    out_second = x.op("Add", [x.op("Mul", [second, cos]), x.op("Mul", [first, sin])])
    joined = x.op("Concat", [out_first, out_second], axis=-1)
    if interleaved:
        joined = x.op("Reshape", [joined, x.ints([0, 0, 0, rot])])
    if rest:
        return x.op("Concat", [joined, rest], output or 1, axis=-1)
    return x.op("Identity", [joined], output) if output else joined


def attention_from_projection(x: Expansion, hidden: str, weights: str, width: int, bias: str, mask: str,
                              attention_bias: str, output: str | None, batch_of: str) -> str:
    """com.microsoft Attention's float subgraph: hidden·[Wq|Wk|Wv] (+ b), split, per-head attention.
    `width`: the projection's output width; `batch_of`: a tensor of the model whose dim 0 is the
    batch. Shared by Attention, QAttention (dequantized operands) and PackedAttention (one sequence)."""
    count = int(x.attr("num_heads"))
    sizes = list(x.attr("qkv_hidden_sizes") or [width // 3] * 3)
    if x.attr("do_rotary"):
        raise x.unsupported("do_rotary (rotary inside Attention)")
    dtype = x.float_type(bias or weights)  # stored: its type is known before shape inference
    q, k, v = x.split(_with_bias(x, x.op("MatMul", [hidden, weights]), bias), sizes, -1)
    scale = x.attr("scale") or 1.0 / math.sqrt(sizes[0] // count)
    filter_value = x.attr("mask_filter_value") or MASK_FILTER_VALUE
    masks = [padding_mask(x, mask, batch_of, hidden, 1, filter_value, dtype)] if mask else []
    if x.attr("unidirectional"):
        masks.append(causal_mask(x, hidden, 1, hidden, 1, filter_value, dtype))
    if attention_bias:
        masks.append(attention_bias)
    return attend(x, heads(x, q, count), heads(x, k, count, keys=True), heads(x, v, count), scale, masks, output, dtype)


def embed_layer_norm(x: Expansion, ids: str, segment_ids: str, word: str, position: str, segment: str, gamma: str,
                     beta: str, mask: str, position_ids: str) -> None:
    """EmbedLayerNormalization's float subgraph: LayerNorm(word[ids] + segment[segment ids] +
    position[0..S−1]); the mask's valid lengths (output 1) and the sum (output 2)."""
    total = x.op("Gather", [word, ids], axis=0)
    if segment and segment_ids:
        total = x.op("Add", [total, x.op("Gather", [segment, segment_ids], axis=0)])
    pos = position_ids or x.op("Range", [x.constant(0, np.int64), scalar_dim(x, ids, 1), x.constant(1, np.int64)])
    total = x.op("Add", [total, x.op("Gather", [position, pos], axis=0)], x.output(2) or 1)
    x.layer_norm(total, gamma, beta, float(x.attr("epsilon")), output=x.output(0))
    if x.output(1):  # int32 valid lengths, as Attention's mask_index reads them
        lengths = (x.reduce("ReduceSum", x.op("Cast", [mask], to=INT64), [1], keepdims=0) if mask
                   else x.op("Expand", [x.dim(ids, 1), x.dim(ids, 0)]))
        x.op("Cast", [lengths], x.output(1), to=INT32)


# ----------------------------------------------------------------------------- attention


@expands("Attention", domain=MS, kind="product")
def attention(x: Expansion) -> bool:
    """input·[Wq|Wk|Wv] + b, then per head softmax(Q·Kᵀ·scale + mask)·V: two products and a softmax"""
    if x.input(4):
        raise x.unsupported("a past state")
    x.require_unread(1)
    attention_from_projection(x, x.input(0), x.input(1), x.static_dims(x.input(1))[-1], x.input(2), x.input(3),
                              x.input(5), x.output(0), x.input(0))
    return True


@expands("PackedAttention", domain=MS, kind="product")
def packed_attention(x: Expansion) -> bool:
    """Attention over the packed tokens [T, H] read as one sequence (the packing is in values)"""
    sequence = x.unsqueeze(x.input(0), [0])
    merged = attention_from_projection(x, sequence, x.input(1), x.static_dims(x.input(1))[-1], x.input(2), "",
                                       x.input(5), None, sequence)
    x.squeeze(merged, [0], output=x.output(0))
    return True


@expands("MultiHeadAttention", domain=MS, kind="product")
def multi_head_attention(x: Expansion) -> bool:
    """per head softmax(Q·Kᵀ·scale + masks)·V of projected query, key, value (+ packed bias)"""
    count = int(x.attr("num_heads"))
    query, key, value = x.input(0), x.input(1), x.input(2)
    if not key or x.rank(key) == 5 or x.rank(query) != 3:
        raise x.unsupported("packed query/key/value")
    if x.input(8) or x.input(9):
        raise x.unsupported("past_sequence_length or cache_indirection")
    x.require_unread(3)
    bias = x.input(3)
    projected = [query, key, value]
    if bias:  # [bq | bk | bv], cut at the widths of query and key (static: from the shapes)
        q_end = x.dim(query, 2)
        k_end = x.op("Add", [q_end, x.dim(key, 2)])
        parts = [x.op("Slice", [bias, start, end, x.ints([0])])
                 for start, end in ((x.ints([0]), q_end), (q_end, k_end), (k_end, x.dim(bias, 0)))]
        projected = [t if x.rank(t) == 4 else x.op("Add", [t, b]) for t, b in zip(projected, parts)]
    q = heads(x, projected[0], count)
    bnsh = x.rank(key) == 4  # keys and values already split into heads
    k = x.op("Transpose", [projected[1]], perm=[0, 1, 3, 2]) if bnsh else heads(x, projected[1], count, keys=True)
    v = projected[2] if bnsh else heads(x, projected[2], count)
    if x.input(6):
        k = x.op("Concat", [x.op("Transpose", [x.input(6)], perm=[0, 1, 3, 2]), k], axis=3)
        v = x.op("Concat", [x.input(7), v], axis=2)
    if x.output(1):
        x.op("Transpose", [k], x.output(1), perm=[0, 1, 3, 2])
    if x.output(2):
        x.op("Identity", [v], x.output(2))
    dtype = x.float_type(query)
    filter_value = x.attr("mask_filter_value") or MASK_FILTER_VALUE
    masks = []
    if x.input(4):
        masks.append(padding_mask(x, x.input(4), query, k, 3, filter_value, dtype))
    if x.attr("unidirectional"):
        masks.append(causal_mask(x, query, 1, k, 3, filter_value, dtype))
    if x.input(5):
        masks.append(x.input(5))
    attend(x, q, k, v, x.attr("scale") or None, masks, x.output(0), dtype)
    return True


@expands("GroupQueryAttention", domain=MS, kind="product")
def group_query_attention(x: Expansion) -> bool:
    """causal attention of N query heads over Nkv shared key/value heads (optional rotary, window, softcap)"""
    count, kv_count = int(x.attr("num_heads")), int(x.attr("kv_num_heads"))
    for name, inert in (("smooth_softmax", (-1, 0, None)), ("k_quant_type", ("NONE", None)), ("v_quant_type", ("NONE", None))):
        if x.attr(name) not in inert:
            raise x.unsupported(name)
    if any(x.input(i) for i in (11, 12, 13, 14, 15, 16)):
        raise x.unsupported("head sinks, quantized caches or q/k norms")
    x.require_unread(3)
    query, key, value = x.input(0), x.input(1), x.input(2)
    if key:
        q, k, v = heads(x, query, count), heads(x, key, kv_count), heads(x, value, kv_count)  # [B, N, S, h]
    else:  # packed QKV: cut by head counts
        packed = x.op("Reshape", [query, x.ints([0, 0, count + 2 * kv_count, -1])])
        q, k, v = (x.op("Transpose", [t], perm=[0, 2, 1, 3]) for t in x.split(packed, [count, kv_count, kv_count], 2))
    past_key = x.input(3)
    if x.attr("do_rotary"):
        ids = positions(x, x.input(9), x.input(0), 1, past_key)
        interleaved = bool(x.attr("rotary_interleaved"))
        width = x.dims(query)[-1]  # the caches may rotate only the first channels of each head
        if not isinstance(width, int):
            raise Deferred(query)
        head_size = width // (count + (0 if key else 2 * kv_count))
        q = rotary(x, q, ids, x.input(7), x.input(8), interleaved, head_size, 1)
        k = rotary(x, k, ids, x.input(7), x.input(8), interleaved, head_size, 1)
    if past_key:
        k = x.op("Concat", [past_key, k], axis=2)
        v = x.op("Concat", [x.input(4), v], axis=2)
    if x.output(1):
        x.op("Identity", [k], x.output(1))
    if x.output(2):
        x.op("Identity", [v], x.output(2))
    dtype = x.float_type(x.input(0))
    filter_value = MASK_FILTER_VALUE
    masks = [causal_mask(x, x.input(0), 1, k, 2, filter_value, dtype, window=int(x.attr("local_window_size") or -1))]
    masks.append(padding_mask(x, x.input(5), x.input(0), k, 2, filter_value, dtype, inclusive=True))
    if x.input(10):
        masks.append(x.input(10))
    k_t = x.op("Transpose", [repeat_heads(x, k, count // kv_count)], perm=[0, 1, 3, 2])
    attend(x, q, k_t, repeat_heads(x, v, count // kv_count), x.attr("scale") or None, masks, x.output(0), dtype,
           float(x.attr("softcap") or 0.0))
    return True


@expands("RotaryEmbedding", domain=MS, kind="linear|product")
def rotary_embedding(x: Expansion) -> bool:
    """x·cos + rotate(x)·sin at the given positions: linear in x (a product when the angles are data)"""
    t, cache = x.input(0), x.input(2)
    half = x.static_dims(cache)[1]
    if x.attr("is_packed_batching"):
        raise x.unsupported("packed batching")
    ids = positions(x, x.input(1), t, 1 if x.rank(t) == 3 else 2)
    interleaved = bool(x.attr("interleaved"))
    count, partial = int(x.attr("num_heads") or 0), bool(x.attr("rotary_embedding_dim"))
    width = x.dims(t)[-1]
    if partial and not isinstance(width, int):  # the head's width decides what is rotated
        raise Deferred(t)
    if x.rank(t) == 4:  # [B, N, S, h]
        rotary(x, t, ids, cache, x.input(3), interleaved, width if partial else None, 1, x.output(0))
        return True
    head_size = (width // count if partial else None) if count else 2 * half
    split = x.op("Reshape", [t, x.ints([0, 0, count, -1] if count else [0, 0, -1, head_size])])
    turned = rotary(x, split, ids, cache, x.input(3), interleaved, head_size, 2)
    x.op("Reshape", [turned, x.ints([0, 0, -1])], x.output(0))
    return True


# ----------------------------------------------------------------------------- embeddings and norms


@expands("EmbedLayerNormalization", domain=MS, kind="normalization", defaults={"epsilon": 1e-12})
def embed_layer_normalization(x: Expansion) -> bool:
    """LayerNorm(word[ids] + segment[segment ids] + position[i]): lookups are the sources"""
    embed_layer_norm(x, x.input(0), x.input(1), x.input(2), x.input(3), x.input(4), x.input(5), x.input(6), x.input(7),
                     x.input(8))
    return True


def _skip_sum(x: Expansion, bias: str) -> str:
    """input (+ bias) + skip: output 3 when the model reads it."""
    return x.op("Add", [_with_bias(x, x.input(0), bias), x.input(1)], x.output(3) or 1)


@expands("SkipLayerNormalization", domain=MS, kind="normalization", defaults={"epsilon": 1e-12})
def skip_layer_normalization(x: Expansion) -> bool:
    """LayerNorm(input + bias + skip) over the last axis; the sum is output 3"""
    x.require_unread(1, 2)
    x.layer_norm(_skip_sum(x, x.input(4)), x.input(2), x.input(3), float(x.attr("epsilon")), output=x.output(0))
    return True


@expands("SkipSimplifiedLayerNormalization", domain=MS, kind="normalization", defaults={"epsilon": 1e-12})
def skip_simplified_layer_normalization(x: Expansion) -> bool:
    """RMSNorm(input + bias + skip) over the last axis; the sum is output 3"""
    x.require_unread(1, 2)
    x.rms_norm(_skip_sum(x, x.input(3)), x.input(2), float(x.attr("epsilon")), output=x.output(0))
    return True


def _simplified_layer_normalization(x: Expansion) -> bool:
    """x / rms(x) · scale over the last axis (RMSNorm)"""
    axis = int(x.attr("axis"))
    if axis not in (-1, x.rank(x.input(0)) - 1):
        raise x.unsupported(f"axis {axis} (RMSNorm over several axes)")
    x.require_unread(1)
    x.rms_norm(x.input(0), x.input(1), float(x.attr("epsilon")), output=x.output(0))
    return True


# onnxruntime registers it in the default domain (which onnx.defs does not know); some tools write com.microsoft
for _domain in ("", MS):
    expands("SimplifiedLayerNormalization", domain=_domain, kind="normalization",
            defaults={"axis": -1, "epsilon": 1e-5})(_simplified_layer_normalization)


# ----------------------------------------------------------------------------- activations and biases


@expands("Gelu", domain=MS, kind="smooth")
def gelu(x: Expansion) -> bool:
    """x·Φ(x), erf form"""
    x.gelu(x.input(0), output=x.output(0))
    return True


@expands("BiasGelu", domain=MS, kind="smooth")
def bias_gelu(x: Expansion) -> bool:
    """Gelu(A + B), erf form"""
    x.gelu(x.op("Add", [x.input(0), x.input(1)]), output=x.output(0))
    return True


@expands("FastGelu", domain=MS, kind="smooth")
def fast_gelu(x: Expansion) -> bool:
    """Gelu(X + bias), tanh form"""
    x.gelu(_with_bias(x, x.input(0), x.input(1)), "tanh", output=x.output(0))
    return True


@expands("QuickGelu", domain=MS, kind="smooth", defaults={"alpha": 1.702})  # onnxruntime's schema default
def quick_gelu(x: Expansion) -> bool:
    """x·σ(αx)"""
    t = x.input(0)
    gate = x.op("Sigmoid", [x.op("Mul", [t, x.constant(float(x.attr("alpha")), x.float_type(t))])])
    x.op("Mul", [t, gate], x.output(0))
    return True


@expands("BiasAdd", domain=MS, kind="linear")
def bias_add(x: Expansion) -> bool:
    """X + bias + skip"""
    x.op("Add", [x.op("Add", [x.input(0), x.input(1)]), x.input(2)], x.output(0))
    return True


@expands("BiasSoftmax", domain=MS, kind="smooth", defaults={"axis": 1})
def bias_softmax(x: Expansion) -> bool:
    """Softmax(data + bias) along `axis`"""
    data, bias = x.input(0), x.input(1)
    missing = x.rank(data) - x.rank(bias)
    if missing > 0 and x.attr("is_inner_broadcast"):  # the bias skips the axes after the batch
        bias = x.unsqueeze(bias, list(range(1, 1 + missing)))
    x.softmax(x.op("Add", [data, bias]), int(x.attr("axis")), output=x.output(0))
    return True


# ----------------------------------------------------------------------------- products and convolutions


def _matmul_operand(x: Expansion, t: str, batch: bool, transposed: bool) -> str:
    """FusedMatMul's operand as MatMul reads it: transBatch moves the leading axis just before the
    last; trans swaps the last two."""
    if not batch and not transposed:
        return t
    rank = x.rank(t)
    perm = list(range(1, rank - 1)) + [0, rank - 1] if batch else list(range(rank))
    if transposed:
        perm[-2], perm[-1] = perm[-1], perm[-2]
    return x.op("Transpose", [t], perm=perm)


@expands("FusedMatMul", domain=MS, kind="linear|product",
         defaults={"alpha": 1.0, "transA": 0, "transB": 0, "transBatchA": 0, "transBatchB": 0})
def fused_matmul(x: Expansion) -> bool:
    """alpha · op(A) · op(B), op a transpose of the last two axes and/or the batch axes"""
    a = _matmul_operand(x, x.input(0), bool(x.attr("transBatchA")), bool(x.attr("transA")))
    b = _matmul_operand(x, x.input(1), bool(x.attr("transBatchB")), bool(x.attr("transB")))
    alpha = float(x.attr("alpha"))
    if alpha == 1.0:
        x.op("MatMul", [a, b], x.output(0))
    else:
        x.op("Mul", [x.op("MatMul", [a, b]), x.constant(alpha, x.float_type(x.input(0)))], x.output(0))
    return True


CONV_ATTRIBUTES = ("auto_pad", "dilations", "group", "kernel_shape", "pads", "strides")


def conv_attributes(x: Expansion) -> dict:
    return {name: x.attr(name) for name in CONV_ATTRIBUTES if any(a.name == name for a in x.node.attribute)}


def activation(x: Expansion, t: str, kind: str, params: Sequence[float], output: str) -> str:
    """FusedConv's activation (onnxruntime's list) on `t` into `output`."""
    if kind == "Relu" or kind in ("Tanh", "Sigmoid"):
        return x.op(kind, [t], output)
    if kind == "LeakyRelu":
        return x.op("LeakyRelu", [t], output, alpha=float(params[0]) if params else 0.01)
    if kind == "HardSigmoid":
        alpha, beta = (list(params) + [0.2, 0.5][len(params):])[:2]
        return x.op("HardSigmoid", [t], output, alpha=float(alpha), beta=float(beta))
    if kind == "Clip":
        low, high = (list(params) + [None, None])[:2]
        return x.clip(t, low, high, output=output)
    raise x.unsupported(f"activation {kind!r}")


@expands("FusedConv", domain=MS, kind="pwl|smooth")
def fused_conv(x: Expansion) -> bool:
    """act(Conv(X, W, B) + Z): the conv, the residual sum, then the activation"""
    inputs = [x.input(0), x.input(1)] + ([x.input(2)] if x.input(2) else [])
    y = x.op("Conv", inputs, **conv_attributes(x))
    y = _with_bias(x, y, x.input(3))
    kind = x.attr("activation") or ""
    if kind:
        activation(x, y, kind, list(x.attr("activation_params") or []), x.output(0))
    else:
        x.op("Identity", [y], x.output(0))
    return True


@expands("NhwcConv", domain=MS, kind="linear")
def nhwc_conv(x: Expansion) -> bool:
    """Conv on channels-last X with channels-last weights [M, kH, kW, C/g]"""
    rank = len(x.static_dims(x.input(1)))
    first = [0, rank - 1] + list(range(1, rank - 1))
    inputs = [x.op("Transpose", [x.input(0)], perm=first), x.op("Transpose", [x.input(1)], perm=first)]
    y = x.op("Conv", inputs + ([x.input(2)] if x.input(2) else []), **conv_attributes(x))
    x.op("Transpose", [y], x.output(0), perm=[0] + list(range(2, rank)) + [1])
    return True
