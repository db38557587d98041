"""ops/shape.py: structural ops' rank caps, and where integer inputs start the flow (SPEC §1, §2)."""
from __future__ import annotations

import numpy as np
from onnx import TensorProto, helper, numpy_helper

import onnxlayer
from builders import model, value, weight
from op_models import one


def test_pad_expand_tile_cap_is_input_size():
    pads = numpy_helper.from_array(np.array([0, 2, 0, 2], np.int64), "pads")
    leaf = one("Pad", [(1, 4)], (1, 8), [pads])
    assert leaf.rank_cap == 4 and leaf.d_out == 4


def test_integer_inputs_start_at_embedding_outputs():
    table = weight("emb", 100, 8)
    nodes = [helper.make_node("Gather", ["emb", "ids"], ["e"], name="/emb/Gather"),
             helper.make_node("Relu", ["e"], ["y"], name="/relu/Relu")]
    m = model(nodes, [value("ids", 1, 5, elem=TensorProto.INT64)], [value("y", 1, 5, 8)], [table])
    r = onnxlayer.analyze(m)
    assert r.summary.input_dim == 40  # the Gather output is the source
    assert [leaf.op_type for leaf in r.leaves] == ["Relu"]
    assert r.summary.params == 100 * 8  # embedding tables are learned weights (counted like frameworks do)
