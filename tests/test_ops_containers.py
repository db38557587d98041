"""ops/containers.py: the cache scatter is a copy; sequences and optionals move whole tensors;
control flow is unrolled in preparation, and a node left whole is opaque and says why."""
from __future__ import annotations

import warnings

import numpy as np
import onnx
import pytest
from onnx import numpy_helper

import onnx_corpus
import onnxlayer
from onnxlayer.registry import REGISTRY
from op_models import one, units


def test_tensor_scatter_writes_an_update_into_the_cache():
    indices = numpy_helper.from_array(np.array([3], np.int64), "write_indices")
    leaf = one("TensorScatter", [(1, 2, 4, 3), (1, 2, 1, 3)], (1, 2, 4, 3), [indices], opset=24)
    assert leaf.kind == "structural" and units(leaf) == [] and leaf.rank_cap == 24


@pytest.mark.parametrize("op", ["Optional", "OptionalGetElement", "OptionalHasElement", "SequenceConstruct",
                                "SequenceInsert", "SequenceErase", "SequenceLength", "SequenceEmpty", "SplitToSequence",
                                "ConcatFromSequence"])
def test_sequence_and_optional_ops_are_structural(op):
    """Their data paths need the sequence's shapes, which preparation asks for first; the entries
    say what they do once they have them: move whole tensors, or count them (rank 0)."""
    entry = REGISTRY.lookup(op, "", 24)
    assert entry is not None and entry.kind == "structural"


def test_a_loop_whose_trip_count_is_an_input_stays_opaque_and_says_why():
    """onnx's test_loop11: the trip count is a graph input, so the body cannot be unrolled."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        (case,) = [m for m in onnx_corpus.node_models(["loop"]) if m.name == "test_loop11"]
    r = onnxlayer.analyze(onnx.ModelProto.FromString(case.data))
    (loop,) = [leaf for leaf in r.leaves if leaf.op_type == "Loop"]
    assert loop.kind == "opaque" and "not unrolled" in loop.note
