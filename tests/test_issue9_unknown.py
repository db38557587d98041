"""Issue 9, defect 5: an op without a registry rule is never silent.

An unknown op that makes the first float tensor from integer inputs is an opaque source: warned,
and `--strict` fails; unknown-op warnings reach stderr when the report goes to a file or is JSON.
"""
from __future__ import annotations

import json
import math

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper

import onnxlayer
from builders import model, value
from onnxlayer.cli import main


def custom(nodes, inputs, outputs, value_info) -> onnx.ModelProto:
    m = model(nodes, inputs, outputs)
    m.opset_import.append(helper.make_opsetid("test.custom", 1))
    m.graph.value_info.extend(value_info)
    return m


def unknown_featurizer() -> onnx.ModelProto:
    """An unknown op turns 3 token ids into 4 floats (as TfIdfVectorizer or BitCast would), then a Relu."""
    return custom([helper.make_node("Featurize", ["ids"], ["f"], domain="test.custom", name="/featurize"),
                   helper.make_node("Relu", ["f"], ["y"], name="/relu")],
                  [value("ids", 1, 3, elem=TensorProto.INT64)], [value("y", 1, 4)], [value("f", 1, 4)])


def test_an_unknown_op_making_the_first_float_tensor_is_an_opaque_source():
    """The source carries at most the 3 integer elements behind it: D0 = 3, the Relu's 4 units
    see d = 3 (c(4, 2, 3) bits); the op is named in a warning."""
    r = onnxlayer.analyze(unknown_featurizer())
    assert r.summary.input_dim == 3
    assert r.summary.complexity_bits == pytest.approx(math.log2(sum(math.comb(4, j) for j in range(4))))
    (note,) = [w for w in r.warnings if "opaque source" in w]
    assert "test.custom::Featurize" in note and note in r.opaque_warnings


def test_strict_fails_on_an_opaque_source():
    with pytest.raises(onnxlayer.OpaqueLeafError, match=r"1 opaque source\(s\) without a registry rule: test.custom::Featurize ×1"):
        onnxlayer.analyze(unknown_featurizer(), strict=True)


def test_a_known_lookup_is_no_opaque_source():
    m = model([helper.make_node("Gather", ["table", "ids"], ["e"]), helper.make_node("Relu", ["e"], ["y"], name="/relu")],
              [value("ids", 1, 3, elem=TensorProto.INT64)], [value("y", 1, 3, 2)],
              [onnx.numpy_helper.from_array(np.ones((5, 2), np.float32), "table")])
    r = onnxlayer.analyze(m, strict=True)
    assert not r.opaque_warnings


@pytest.fixture
def unknown_leaf_path(tmp_path):
    m = custom([helper.make_node("Warp", ["x"], ["h"], domain="test.custom", name="/warp"),
                helper.make_node("Relu", ["h"], ["y"], name="/relu")],
               [value("x", 1, 4)], [value("y", 1, 4)], [value("h", 1, 4)])
    path = tmp_path / "unknown.onnx"
    onnx.save(m, path)
    return str(path)


@pytest.mark.parametrize("options", [["--format", "json"], ["-o", "REPORT"], ["--format", "csv", "-o", "REPORT"]])
def test_unknown_op_warnings_reach_stderr_when_the_report_does_not_show_them(unknown_leaf_path, tmp_path, capsys, options):
    options = [str(tmp_path / "report.txt") if o == "REPORT" else o for o in options]
    assert main(["analyze", unknown_leaf_path, *options]) == 0
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert len(lines) == 1 and lines[0].startswith("onnxlayer: warning: 1 opaque leaf(s) of op type test.custom::Warp")
    if options[:2] == ["--format", "json"]:
        assert json.loads(out)["summary"]["output_dim"] == 4  # SPEC §6


def test_the_table_on_the_terminal_shows_them_once(unknown_leaf_path, capsys):
    assert main(["analyze", unknown_leaf_path]) == 0
    out, err = capsys.readouterr()
    assert "opaque leaf(s) of op type test.custom::Warp" in out and err == ""


# ----------------------------------------------------------------------------- what the warning says


def _loop(name: str, x: str, y: str) -> onnx.NodeProto:
    """A Loop whose trip count is the graph input n: it cannot be unrolled."""
    body = helper.make_graph([helper.make_node("Relu", ["v"], ["v2"]), helper.make_node("Identity", ["c"], ["c2"])], "body",
                             [helper.make_tensor_value_info("i", TensorProto.INT64, []),
                              helper.make_tensor_value_info("c", TensorProto.BOOL, []), value("v", 1, 4)],
                             [helper.make_tensor_value_info("c2", TensorProto.BOOL, []), value("v2", 1, 4)])
    return helper.make_node("Loop", ["n", "", x], [y], body=body, name=name)


def test_a_leaf_whose_rule_says_opaque_is_warned_by_op_type_with_the_rules_reason():
    """Two Loops with a trip count from the inputs: one warning naming ai.onnx::Loop and why
    (not unrolled), never a leaf's name."""
    m = model([_loop("/first", "x", "h"), _loop("/second", "h", "y")],
              [value("x", 1, 4), helper.make_tensor_value_info("n", TensorProto.INT64, [])], [value("y", 1, 4)])
    m.graph.value_info.append(value("h", 1, 4))
    (note,) = onnxlayer.analyze(m).opaque_warnings
    assert note.startswith("2 opaque leaf(s) of op type ai.onnx::Loop: Loop not unrolled: its iterations")
    assert "/first" not in note and "/second" not in note


def test_an_op_below_its_first_rule_is_warned_with_its_domain_and_first_opset():
    """Two Gelus at opset 17 (its rule starts at 20, and ONNX 17 has no Gelu function to expand)."""
    m = model([helper.make_node("Gelu", ["x"], ["h"], name="/a"), helper.make_node("Gelu", ["h"], ["y"], name="/b")],
              [value("x", 1, 4)], [value("y", 1, 4)], opset=17)
    m.graph.value_info.append(value("h", 1, 4))  # ONNX 17 knows no Gelu: the shapes are declared
    (note,) = onnxlayer.analyze(m).opaque_warnings
    assert note.startswith("2 opaque leaf(s) of op type ai.onnx::Gelu: no registry rule for Gelu at opset 17: "
                           "its rules start at opset 20;")


def test_an_unknown_op_is_warned_with_its_domain_and_what_exists(unknown_leaf_path):
    (note,) = onnxlayer.analyze(unknown_leaf_path).opaque_warnings
    assert note.startswith("1 opaque leaf(s) of op type test.custom::Warp: no registry rule for Warp (domain test.custom); "
                           "known domains: ai.onnx, ")
