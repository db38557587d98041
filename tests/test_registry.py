"""The operator registry: one entry per op (rule, kind, scalar function, fusion role, probe
pattern or the reason it has none), opset-aware lookup, misses that list what exists."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from onnx import helper

import onnxlayer
from builders import model, value
from onnxlayer.registry import REGISTRY, Elementwise, Registry, default_attr
from onnxlayer.transfer import KINDS

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


def test_every_rule_has_a_summary_and_known_kind():
    for e in REGISTRY.entries():
        assert e.summary, e.op_type
        assert all(k in KINDS for k in e.kind.split("|")), (e.op_type, e.kind)


def test_every_nonlinear_op_has_a_probe_pattern_or_a_reason():
    """An op whose LTA can have units must say how the probes read its pieces, or why they cannot."""
    missing = [f"{e.domain or 'ai.onnx'}::{e.op_type}" for e in REGISTRY.entries()
               if e.kind not in ("linear", "structural") and e.pattern is None and not e.no_pattern.strip()]
    assert missing == []


def test_the_entries_need_no_onnxruntime():
    """Rules and patterns load without the probes' runtime (onnxruntime is an optional extra)."""
    code = ("import sys; sys.modules['onnxruntime'] = None; import onnxlayer.ops; "
            "from onnxlayer.registry import REGISTRY; assert REGISTRY.lookup('MaxPool', '', 17).pattern")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_elementwise_ops_have_their_semantics():
    for e in REGISTRY.entries():
        if e.elementwise is not None:
            assert e.elementwise.evaluate is not None or e.function is not None, e.op_type


# ----------------------------------------------------------------------------- lookup


def test_opset_aware_lookup():
    assert REGISTRY.lookup("Gelu", "", 20).since == 20
    assert REGISTRY.lookup("Gelu", "", 19) is None  # older than every Gelu rule: no rule
    assert REGISTRY.has_rule("Gelu", "", 20) and not REGISTRY.has_rule("Gelu", "", 19)
    assert REGISTRY.lookup("Relu", "ai.onnx", 6) is REGISTRY.lookup("Relu", "", 6)


def test_below_the_first_rule_the_leaf_is_opaque_and_the_warning_names_the_first_opset():
    m = model([helper.make_node("Gelu", ["x"], ["y"], name="/gelu")], [value("x", 1, 4)], [value("y", 1, 4)], opset=17)
    r = onnxlayer.analyze(m)
    assert r.leaves[0].kind == "opaque"
    assert any("no registry rule for Gelu at opset 17: its rules start at opset 20" in w for w in r.warnings)


def test_a_miss_says_what_exists():
    assert REGISTRY.missing("Relux", "", 17) == "no registry rule for Relux; close: Relu, PRelu, Selu"
    assert REGISTRY.missing("Gelu", "com.example", 1) == (
        "no registry rule for Gelu (domain com.example); Gelu is registered in ai.onnx, com.microsoft")
    domains = "ai.onnx, ai.onnx.ml, ai.onnx.preview.training, com.microsoft, onnxlayer"
    assert REGISTRY.missing("Frob", "com.example", 1) == f"no registry rule for Frob (domain com.example); known domains: {domains}"


def test_unknown_op_is_opaque_with_warning():
    node = helper.make_node("Frobnicate", ["x0"], ["y"], name="/frob", domain="com.example")
    m = model([node], [value("x0", 1, 4)], [value("y", 1, 4)])
    m.opset_import.append(helper.make_opsetid("com.example", 1))
    r = onnxlayer.analyze(m)
    assert r.summary.opaque_leaves == 1 and r.leaves[0].kind == "opaque"
    assert any("Frobnicate" in w and "known domains" in w for w in r.warnings)
    with pytest.raises(onnxlayer.OpaqueLeafError):
        onnxlayer.analyze(m, strict=True)


# ----------------------------------------------------------------------------- attribute defaults


def test_defaults_come_from_the_onnx_schema():
    # the ONNX operator documentation: LeakyRelu alpha 0.01, Softmax axis 1 before opset 13 and -1 from 13 on
    assert default_attr("LeakyRelu", "", 17, "alpha") == np.float32(0.01)
    assert default_attr("Softmax", "", 11, "axis") == 1 and default_attr("Softmax", "", 13, "axis") == -1
    assert default_attr("Gelu", "", 20, "approximate") == "none"
    assert default_attr("Relu", "", 17, "alpha") is None


def test_ops_without_a_schema_declare_their_defaults_in_their_entry():
    entry = REGISTRY.lookup("QuickGelu", "com.microsoft", 1)
    assert default_attr("QuickGelu", "com.microsoft", 1, "alpha", entry.defaults) == 1.702  # onnxruntime's schema


# ----------------------------------------------------------------------------- declaring entries


def test_declaration_errors():
    registry = Registry()

    def rule(ctx):
        """a rule"""

    with pytest.raises(ValueError, match="unknown kind"):
        registry.register("Frob", kind="wiggly")(rule)
    with pytest.raises(ValueError, match="not both"):
        registry.register("Frob", kind="pwl", pattern=lambda ctx: None, no_pattern="because")(rule)
    with pytest.raises(ValueError, match="semantics or a scalar function"):
        registry.register("Frob", kind="smooth", elementwise=Elementwise())(rule)
    registry.register("Frob", kind="pwl", no_pattern="because")(rule)
    with pytest.raises(ValueError, match="registered twice"):
        registry.register("Frob", kind="pwl", no_pattern="because")(rule)
    (entry,) = registry.entries()
    assert (entry.op_type, entry.domain, entry.since, entry.summary, entry.exact) == ("Frob", "", 1, "a rule", True)
