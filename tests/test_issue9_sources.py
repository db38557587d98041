"""Issue 9, defect 8: sources from integer inputs carry what they can, not how an exporter shaped
them (SPEC §1 v1.1), so both torch exporters give the same numbers.

The small models are built here; the numbers are derived in the test (a Relu of u units on
d ≥ u dimensions is u bits). The transformers twins (marker `torch`) export BERT-, GPT-2- and
LLaMA-style models with random weights from local configs through both exporters.
"""
from __future__ import annotations

import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value, weight
from onnxlayer.api import layer_expression
from onnxlayer.analysis import run_analysis
from onnxlayer.transfer import Settings

IDS = value("ids", 1, 3, elem=TensorProto.INT64)


def lookup(one_hot: bool) -> onnx.ModelProto:
    """3 token ids, a 10×4 table, then a Relu: as a Gather, or as OneHot(ids)·table."""
    if one_hot:
        nodes = [helper.make_node("OneHot", ["ids", "depth", "onoff"], ["hot"], axis=-1),
                 helper.make_node("MatMul", ["hot", "table"], ["e"], name="/embed")]
        inits = [numpy_helper.from_array(np.array(10, np.int64), "depth"), numpy_helper.from_array(np.array([0.0, 1.0], np.float32), "onoff")]
    else:
        nodes, inits = [helper.make_node("Gather", ["table", "ids"], ["e"], name="/embed")], []
    nodes.append(helper.make_node("Relu", ["e"], ["y"], name="/relu"))
    return model(nodes, [IDS], [value("y", 1, 3, 4)], [weight("table", 10, 4), *inits])


@pytest.mark.parametrize("one_hot", [False, True])
def test_an_embedding_lookup_carries_ids_times_width(one_hot):
    """d = |ids|·E = 3·4 = 12 in either form; the Relu: 12 units, 12 bits; the one-hot is no source."""
    r = onnxlayer.analyze(lookup(one_hot))
    assert r.summary.input_dim == 12
    assert r.leaf("/relu").d_in == 12 and r.summary.complexity_bits == 12
    assert [leaf.name for leaf in r.leaves] == ["/relu"]  # the lookup starts the flow; it is no leaf


def masked_layers(shared_mask: bool, layers: int = 2) -> onnx.ModelProto:
    """ids [1,4] → embedding [1,4,8]; `layers` times: scores = h·W [1,4,4] plus an additive mask
    made from the attention mask [1,4] (broadcast to [1,4,4], Cast, 1 − m, ×−1e4), Softmax,
    h' = p·h. The legacy exporter computes the mask once per layer, the dynamo exporter once."""
    c = lambda name, v, t=np.float32: numpy_helper.from_array(np.array(v, t), name)  # noqa: E731
    inits = [weight("table", 20, 8), c("one", 1.0), c("big", -1e4), c("shape", [1, 4, 4], np.int64)]
    nodes = [helper.make_node("Gather", ["table", "ids"], ["h0"], name="/embed")]

    def mask(tag: str) -> list[onnx.NodeProto]:
        return [helper.make_node("Expand", ["mask", "shape"], [f"{tag}wide"]),
                helper.make_node("Cast", [f"{tag}wide"], [f"{tag}f"], to=TensorProto.FLOAT),
                helper.make_node("Sub", ["one", f"{tag}f"], [f"{tag}inv"]),
                helper.make_node("Mul", [f"{tag}inv", "big"], [f"{tag}m"])]

    if shared_mask:
        nodes += mask("mask/")
    h = "h0"
    for k in range(layers):
        tag = f"l{k}/"
        m = f"{tag}mask/m" if not shared_mask else "mask/m"
        if not shared_mask:
            nodes += mask(f"{tag}mask/")
        inits.append(weight(f"{tag}W", 8, 4))
        nodes += [helper.make_node("MatMul", [h, f"{tag}W"], [f"{tag}s"], name=f"/{tag}scores"),
                  helper.make_node("Add", [f"{tag}s", m], [f"{tag}sm"], name=f"/{tag}masked"),
                  helper.make_node("Softmax", [f"{tag}sm"], [f"{tag}p"], name=f"/{tag}softmax", axis=-1),
                  helper.make_node("MatMul", [f"{tag}p", h], [f"{tag}h"], name=f"/{tag}mix")]
        h = f"{tag}h"
    return model(nodes, [value("ids", 1, 4, elem=TensorProto.INT64), value("mask", 1, 4, elem=TensorProto.INT64)],
                 [value(h, 1, 4, 8)], inits)


def test_a_cast_attention_mask_carries_at_most_its_integer_elements():
    """The mask [1,4] broadcast to [1,4,4] is a source of d ≤ 4, not 16: D0 = 4·8 + 4."""
    a = run_analysis(masked_layers(shared_mask=True), None, Settings())
    assert a.d0 == 32 + 4
    (derived,) = [t for t in a.view.sources if t.derived_from]
    assert derived.derived_from == ("mask",) and derived.size == 16 and a.d[derived.name] == 4


def test_masks_computed_once_or_per_layer_give_the_same_numbers():
    """One mask input feeds one source (dynamo) or one per layer (legacy): the input's 4 elements
    count once in D0 either way, and every leaf sees the same d."""
    once, per_layer = onnxlayer.analyze(masked_layers(True)), onnxlayer.analyze(masked_layers(False))
    assert once.summary.input_dim == per_layer.summary.input_dim == 36
    for field in ("complexity_bits", "intrinsic_power", "intrinsic_power_mean", "params", "macs", "output_dim"):
        assert getattr(once.summary, field) == pytest.approx(getattr(per_layer.summary, field), rel=1e-12), field
    assert [(leaf.name, leaf.d_in, leaf.d_out) for leaf in once.leaves if leaf.groups] == \
           [(leaf.name, leaf.d_in, leaf.d_out) for leaf in per_layer.leaves if leaf.groups]


def test_a_tensor_computed_from_no_input_is_static():
    """Positions 0..3 from Range, looked up in a table, added to the token embedding: no source."""
    c = lambda name, v: numpy_helper.from_array(np.array(v, np.int64), name)  # noqa: E731
    nodes = [helper.make_node("Gather", ["table", "ids"], ["e"], name="/embed"),
             helper.make_node("Range", ["zero", "four", "step"], ["positions"]),
             helper.make_node("Gather", ["pos_table", "positions"], ["p"]),
             helper.make_node("Add", ["e", "p"], ["x"], name="/add"), helper.make_node("Relu", ["x"], ["y"], name="/relu")]
    m = model(nodes, [value("ids", 1, 4, elem=TensorProto.INT64)], [value("y", 1, 4, 8)],
              [weight("table", 20, 8), weight("pos_table", 16, 8), c("zero", 0), c("four", 4), c("step", 1)])
    r = onnxlayer.analyze(m)
    assert r.summary.input_dim == 32 and r.summary.complexity_bits == 32


def test_the_expression_of_a_model_fed_by_a_derived_source_alone_matches_the_walk():
    """mask [1,4] → Cast → Expand [3,4] → Relu: one source of d = 4 below its integer input;
    the Relu's 12 units on d = 4: c(12, 2, 4) bits, in the walk and in the expression."""
    nodes = [helper.make_node("Cast", ["mask"], ["f"], to=TensorProto.FLOAT),
             helper.make_node("Expand", ["f", "shape"], ["wide"]), helper.make_node("Relu", ["wide"], ["y"], name="/relu")]
    m = model(nodes, [value("mask", 1, 4, elem=TensorProto.INT64)], [value("y", 3, 4)],
              [numpy_helper.from_array(np.array([3, 4], np.int64), "shape")])
    bits = math.log2(sum(math.comb(12, j) for j in range(5)))
    expression = layer_expression(m, path="mask")
    assert expression.result.summary.input_dim == 4
    assert expression.result.summary.complexity_bits == pytest.approx(bits)
    assert expression.root.value.complexity == pytest.approx(bits)


# --------------------------------------------------------------------------- transformers, both exporters

TWIN_FIELDS = ("complexity_bits", "intrinsic_power", "intrinsic_power_mean", "input_dim", "params", "macs")
SEQ = 32  # the position tables' length: the dynamo exporter folds the rows a shorter input reads


def _transformer(kind: str):
    """A small BERT-, GPT-2- or LLaMA-style model from a local config (random weights), called
    with input ids and an all-ones attention mask, its first output returned."""
    import torch

    from deployed import _hide_broken_torchvision

    _hide_broken_torchvision()
    import transformers

    torch.manual_seed(0)
    if kind == "bert":
        config = transformers.BertConfig(hidden_size=64, num_hidden_layers=2, num_attention_heads=4, intermediate_size=128,
                                         vocab_size=100, max_position_embeddings=32)
        net = transformers.BertModel(config)
    elif kind == "gpt2":
        config = transformers.GPT2Config(n_embd=64, n_layer=2, n_head=4, vocab_size=100, n_positions=32)
        net = transformers.GPT2LMHeadModel(config)
    else:
        config = transformers.LlamaConfig(hidden_size=64, intermediate_size=128, num_hidden_layers=2, num_attention_heads=4,
                                          num_key_value_heads=2, vocab_size=100, max_position_embeddings=32)
        net = transformers.LlamaForCausalLM(config)
    net.eval()
    with torch.no_grad():  # distinct values everywhere: the legacy exporter stores equal tensors once
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 1e-3)

    class FirstOutput(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, ids, mask):
            extra = {} if kind == "bert" else {"use_cache": False}
            return self.net(input_ids=ids, attention_mask=mask, return_dict=False, **extra)[0]

    ids = torch.randint(0, config.vocab_size, (1, SEQ))
    return FirstOutput().eval(), (ids, torch.ones(1, SEQ, dtype=torch.int64))


@pytest.mark.torch
@pytest.mark.parametrize("kind", ["bert", "gpt2", "llama"])
def test_both_torch_exporters_give_the_same_numbers(kind):
    from onnxlayer.converters import convert

    net, example = _transformer(kind)
    results = {}
    for exporter in ("legacy", "dynamo"):
        results[exporter] = onnxlayer.analyze(convert(net, example, exporter=exporter)).summary
    legacy, dynamo = results["legacy"], results["dynamo"]
    for field in TWIN_FIELDS:
        assert getattr(legacy, field) == pytest.approx(getattr(dynamo, field), rel=1e-9), field
    # the token embedding's |ids|·E, plus the mask's SEQ elements once (BERT's position and token
    # type ids are buffers, GPT-2's and LLaMA's positions a range: static)
    assert legacy.input_dim == SEQ * 64 + SEQ
