"""Transformers: torchvision ViT-B/16 (Dosovitskiy et al. 2021) and BERT-base (Devlin et al. 2019).

Linear layers on 3-D activations export as MatMul + Add, with the weight stored
transposed ([in, out]) under the module's ``weight`` name, as torch.onnx's
constant folding leaves it.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
from onnx import TensorProto

from .builder import GraphBuilder


def _attention(b: GraphBuilder, q: str, k: str, v: str, heads: int, hidden: int,
               scale_query: bool) -> str:
    """Scaled dot-product attention over [batch, seq, hidden] q, k, v; returns [batch, seq, hidden].

    ``scale_query``: multiply q by 1/sqrt(d) (torch MultiheadAttention) instead of
    dividing the scores by sqrt(d) (HuggingFace BERT).
    """
    head_dim = hidden // heads
    q, k, v = (b.reshape(t, [0, 0, heads, head_dim]) for t in (q, k, v))
    q = b.transpose(q, [0, 2, 1, 3])
    k = b.transpose(k, [0, 2, 3, 1])
    v = b.transpose(v, [0, 2, 1, 3])
    if scale_query:
        q = b.mul(q, b.const(1.0 / math.sqrt(head_dim), np.float32))
    scores = b.matmul(q, k)
    if not scale_query:
        scores = b.op("Div", scores, b.const(math.sqrt(head_dim), np.float32))
    context = b.matmul(b.softmax(scores, axis=-1), v)
    context = b.transpose(context, [0, 2, 1, 3])
    return b.reshape(context, [0, 0, hidden])


# ------------------------------------------------------------------- ViT-B/16
VIT_HIDDEN, VIT_HEADS, VIT_MLP, VIT_LAYERS, VIT_PATCH, VIT_SIZE = 768, 12, 3072, 12, 16, 224
VIT_LN_EPS = 1e-6


def _vit_layer(b: GraphBuilder, x: str) -> str:
    """EncoderBlock: x + MHA(ln_1(x)), then y + MLP(ln_2(y)) (Dropouts absent at inference)."""
    y = b.layernorm(x, VIT_HIDDEN, VIT_LN_EPS, name="ln_1")
    with b.scope("self_attention"):
        qkv = b.linear_nd(y, VIT_HIDDEN, 3 * VIT_HIDDEN, name=None, weight_name="in_proj_weight")
        q, k, v = b.split(qkv, [VIT_HIDDEN] * 3, axis=-1)
        y = _attention(b, q, k, v, VIT_HEADS, VIT_HIDDEN, scale_query=True)
        y = b.linear_nd(y, VIT_HIDDEN, VIT_HIDDEN, name="out_proj")
    x = b.add(y, x)
    y = b.layernorm(x, VIT_HIDDEN, VIT_LN_EPS, name="ln_2")
    with b.scope("mlp"):
        y = b.linear_nd(y, VIT_HIDDEN, VIT_MLP, name=0)
        y = b.gelu(y, 1)
        y = b.linear_nd(y, VIT_MLP, VIT_HIDDEN, name=3)
    return b.add(x, y)


def vit_b_16(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    b = GraphBuilder("vit_b_16", weights, seed)
    x = b.input("input", ["batch", 3, VIT_SIZE, VIT_SIZE])
    patches = (VIT_SIZE // VIT_PATCH) ** 2
    x = b.conv(x, 3, VIT_HIDDEN, VIT_PATCH, VIT_PATCH, name="conv_proj")
    x = b.transpose(b.reshape(x, [0, VIT_HIDDEN, patches]), [0, 2, 1])
    # class_token.expand(n, -1, -1), then cat along the sequence.
    token = b.param("class_token", [1, 1, VIT_HIDDEN], init="const")
    batch = b.op("Shape", x, start=0, end=1)
    token = b.op("Expand", token, b.concat([batch, b.const([1, VIT_HIDDEN])], axis=0))
    x = b.concat([token, x], axis=1)
    with b.scope("encoder"):
        position = b.param("pos_embedding", [1, patches + 1, VIT_HIDDEN], init="normal")
        x = b.add(x, position)
        with b.scope("layers"):
            for i in range(VIT_LAYERS):
                with b.scope(f"encoder_layer_{i}"):
                    x = _vit_layer(b, x)
        x = b.layernorm(x, VIT_HIDDEN, VIT_LN_EPS, name="ln")
    x = b.gather(x, 0, axis=1)  # x[:, 0]
    with b.scope("heads"):
        x = b.linear(x, VIT_HIDDEN, 1000, name="head")
    b.output(x, "logits", ["batch", 1000])
    return b.build("torchvision vit_b_16")


# ------------------------------------------------------------------ BERT-base
BERT_VOCAB, BERT_POSITIONS, BERT_TYPES = 30522, 512, 2
BERT_HIDDEN, BERT_HEADS, BERT_FFN, BERT_LAYERS = 768, 12, 3072, 12
BERT_LN_EPS = 1e-12


def _bert_layer(b: GraphBuilder, x: str) -> str:
    with b.scope("attention"):
        with b.scope("self"):
            q, k, v = (b.linear_nd(x, BERT_HIDDEN, BERT_HIDDEN, name=n)
                       for n in ("query", "key", "value"))
            y = _attention(b, q, k, v, BERT_HEADS, BERT_HIDDEN, scale_query=False)
        with b.scope("output"):
            y = b.linear_nd(y, BERT_HIDDEN, BERT_HIDDEN, name="dense")
            x = b.layernorm(b.add(y, x), BERT_HIDDEN, BERT_LN_EPS, name="LayerNorm")
    with b.scope("intermediate"):
        y = b.gelu(b.linear_nd(x, BERT_HIDDEN, BERT_FFN, name="dense"))
    with b.scope("output"):
        y = b.linear_nd(y, BERT_FFN, BERT_HIDDEN, name="dense")
        return b.layernorm(b.add(y, x), BERT_HIDDEN, BERT_LN_EPS, name="LayerNorm")


def bert_base(weights: bool = True, seed: int = 0) -> onnx.ModelProto:
    """BertModel(bert-base-uncased) encoder + pooler.

    No attention-mask input: every token attends to every token (an all-ones mask).
    """
    b = GraphBuilder("bert_base", weights, seed)
    ids = b.input("input_ids", ["batch", "seq"], TensorProto.INT64)
    types = b.input("token_type_ids", ["batch", "seq"], TensorProto.INT64)
    with b.scope("embeddings"):
        # position_ids = arange(seq), computed from the input's shape (static).
        seq = b.gather(b.op("Shape", ids), 1, axis=0)
        positions = b.op("Range", b.const(0), seq, b.const(1))
        x = b.embedding(ids, BERT_VOCAB, BERT_HIDDEN, "word_embeddings")
        x = b.add(x, b.embedding(types, BERT_TYPES, BERT_HIDDEN, "token_type_embeddings"))
        x = b.add(x, b.embedding(positions, BERT_POSITIONS, BERT_HIDDEN, "position_embeddings"))
        x = b.layernorm(x, BERT_HIDDEN, BERT_LN_EPS, name="LayerNorm")
    with b.scope("encoder"):
        for i in range(BERT_LAYERS):
            with b.scope(f"layer.{i}"):  # a ModuleList: no scope of its own
                x = _bert_layer(b, x)
    hidden = x
    with b.scope("pooler"):
        pooled = b.linear(b.gather(hidden, 0, axis=1), BERT_HIDDEN, BERT_HIDDEN, name="dense")
        pooled = b.act("Tanh", pooled, "activation")
    b.output(hidden, "last_hidden_state", ["batch", "seq", BERT_HIDDEN])
    b.output(pooled, "pooler_output", ["batch", BERT_HIDDEN])
    return b.build("BERT-base encoder + pooler (bert-base-uncased BertModel)")
