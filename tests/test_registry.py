"""Every op named in the core issue and SPEC §2 has a registry rule."""
from __future__ import annotations

import pytest

import onnxlayer  # noqa: F401  (registers the rules)
from onnxlayer.registry import REGISTRY

REQUIRED = """Conv ConvTranspose Gemm MatMul Einsum Add Sub Mul Div Sum Mean Max Min Neg Abs Pow Sqrt Reciprocal Exp Log
Erf Relu LeakyRelu PRelu Clip HardSigmoid HardSwish Sigmoid Tanh Softplus Softsign Elu Selu Celu Gelu Mish
ThresholdedRelu Softmax LogSoftmax BatchNormalization LayerNormalization InstanceNormalization GroupNormalization LRN
MaxPool AveragePool GlobalAveragePool GlobalMaxPool LpPool ReduceMax ReduceMin ReduceMean ReduceSum ReduceProd ReduceL1
ReduceL2 ReduceLogSum ReduceLogSumExp ReduceSumSquare Reshape Flatten Transpose Squeeze Unsqueeze Concat Split Slice
Gather GatherElements GatherND Pad Resize Upsample DepthToSpace SpaceToDepth Expand Tile Identity Dropout Cast CastLike
Shape Size Constant ConstantOfShape Range Where Equal Less Greater Not And ArgMax ArgMin TopK NonZero CumSum
QuantizeLinear DequantizeLinear Trilu LSTM GRU RNN""".split()


@pytest.mark.parametrize("op", REQUIRED)
def test_required_op_has_rule(op):
    assert REGISTRY.lookup(op, "", 21) is not None, op


def test_opset_aware_lookup():
    entry = REGISTRY.lookup("Gelu", "", 20)
    assert entry is not None and entry.since == 20


def test_every_rule_has_a_summary_and_known_kind():
    from onnxlayer.transfer import KINDS

    for e in REGISTRY.entries():
        assert e.summary, e.op_type
        assert all(k in KINDS for k in e.kind.split("|")), (e.op_type, e.kind)
