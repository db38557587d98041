"""`onnxlayer diff`: alignment of leaves, summary deltas and the architectural verdict.

Expected W and MACs come from the shapes built here: a Gemm k→n holds k·n + n parameters and
k·n MACs per sample (SPEC §3 counting).
"""
from __future__ import annotations

import json
import math

import onnx
import pytest
from onnx import helper

from builders import gemm, mlp, model, value
from onnxlayer import analyze
from onnxlayer.cli import main
from onnxlayer.diff import diff, read_result
from onnxlayer.gate import diff_models


def blocks(names_widths, d_in: int = 4, head: int = 3) -> onnx.ModelProto:
    """[1, d_in] → (Gemm → Relu) per named block → Gemm head; nodes named /NAME/Gemm, /NAME/Relu."""
    nodes, inits, x, k = [], [], "x", d_in
    for name, n in names_widths:
        node, w = gemm(x, f"{name}_h", k, n, name)
        nodes += [node, helper.make_node("Relu", [f"{name}_h"], [f"{name}_a"], name=f"/{name}/Relu")]
        inits += w
        x, k = f"{name}_a", n
    node, w = gemm(x, "y", k, head, "head")
    return model(nodes + [node], [value("x", 1, d_in)], [value("y", 1, head)], inits + w)


def gemm_params(k: int, n: int) -> int:
    return k * n + n


def test_identical_models_have_no_change():
    a = analyze(mlp())
    d = diff(a, analyze(mlp()))
    assert d.verdict == "no architectural change" and not d.architectural_change
    assert d.count("same") == 5 and d.count("changed") == d.count("added") == d.count("removed") == 0
    assert all(m.equal and m.delta == 0 for m in d.metrics)
    assert d.added_op_types == d.removed_op_types == ()


def test_renamed_nodes_are_the_same_architecture():
    """An optimizer renames nodes: the leaves still pair by op type and the verdict holds."""
    old = blocks([("enc1", 8), ("enc2", 8)])
    new = blocks([("enc1", 8), ("enc2", 8)])
    for i, node in enumerate(new.graph.node):
        node.name = f"node_{i}"
    d = diff(analyze(old), analyze(new))
    assert not d.architectural_change
    assert d.count("same") == 5 and d.count("added") == d.count("removed") == 0
    assert [(c.old.name, c.new.name) for c in d.leaves][1] == ("/enc1/Relu", "node_1")


def test_widened_layer_is_named_with_its_deltas():
    old, new = mlp((4, 8, 8, 3)), mlp((4, 8, 12, 3))
    d = diff(analyze(old), analyze(new))
    assert d.architectural_change
    dw = (gemm_params(8, 12) + gemm_params(12, 3)) - (gemm_params(8, 8) + gemm_params(8, 3))
    dmacs = (8 * 12 + 12 * 3) - (8 * 8 + 8 * 3)
    assert (dw, dmacs) == (48, 44)
    assert d.metric("params").delta == dw and d.metric("macs").delta == dmacs
    assert d.metric("params").old == gemm_params(4, 8) + gemm_params(8, 8) + gemm_params(8, 3) == 139
    changed = {c.new.name: c.fields for c in d.leaves if c.status == "changed"}
    assert set(changed) == {"/fc1/Gemm", "/act1/Relu", "/fc2/Gemm"}
    assert {"params", "macs"} <= set(changed["/fc1/Gemm"]) and "groups" in changed["/act1/Relu"]
    # the widened Relu has 12 units instead of 8 (2 pieces each): the unit inventory differs
    assert dict(d.old_units) == {2: 16} and dict(d.new_units) == {2: 20}
    assert any(r.startswith("W 139 → 187") for r in d.reasons)


def test_removed_layer_is_named():
    old = blocks([("b1", 8), ("b2", 8), ("b3", 8)])
    new = blocks([("b1", 8), ("b3", 8)])
    d = diff(analyze(old), analyze(new))
    assert d.architectural_change
    removed = [c.old.name for c in d.leaves if c.status == "removed"]
    assert removed == ["/b2/Gemm", "/b2/Relu"]
    assert d.count("added") == 0 and d.count("changed") == 0
    assert d.metric("params").delta == -gemm_params(8, 8)
    assert d.metric("macs").delta == -8 * 8
    assert d.metric("depth").delta == -1
    # D0 = 4 bounds every d: each Relu of 8 units has c(8, 2, 4) = log2 Σ_{j≤4} C(8, j) = log2 163 bits
    assert d.metric("complexity_bits").delta == pytest.approx(-math.log2(163), rel=1e-12)


def test_inserted_layer_is_added():
    d = diff(analyze(blocks([("b1", 8), ("b3", 8)])), analyze(blocks([("b1", 8), ("b2", 8), ("b3", 8)])))
    assert [c.new.name for c in d.leaves if c.status == "added"] == ["/b2/Gemm", "/b2/Relu"]


def test_replaced_op_type_is_a_changed_leaf():
    """Relu → LeakyRelu: same pieces, so not architectural as the metrics see it, but listed."""
    d = diff(analyze(mlp()), analyze(mlp(activation="LeakyRelu")))
    assert not d.architectural_change
    changed = [c for c in d.leaves if c.status == "changed"]
    assert [c.fields for c in changed] == [("op_type",), ("op_type",)]
    assert d.added_op_types == ("LeakyRelu",) and d.removed_op_types == ("Relu",)


def test_runtime_optimized_file_is_the_same_network(tmp_path):
    """onnxruntime's basic graph optimizations, saved to a file, keep the architecture."""
    ort = pytest.importorskip("onnxruntime")
    src, out = tmp_path / "exported.onnx", tmp_path / "optimized.onnx"
    onnx.save(blocks([("b1", 16), ("b2", 16)], d_in=8), src)
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_BASIC
    options.optimized_model_filepath = str(out)
    ort.InferenceSession(str(src), options, providers=["CPUExecutionProvider"])
    d = diff_models(str(src), str(out))
    assert d.verdict == "no architectural change", d.reasons


def cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_formats_and_exit_code(tmp_path, capsys):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(mlp((4, 8, 8, 3)), a)
    onnx.save(mlp((4, 8, 12, 3)), b)
    code, out, err = cli(capsys, "diff", str(a), str(b))
    assert code == 0 and err == ""
    assert "verdict: architectural change" in out and "/fc1/Gemm" in out and "+48" in out
    code, out, _ = cli(capsys, "diff", str(a), str(b), "--exit-code")
    assert code == 1
    code, out, _ = cli(capsys, "diff", str(a), str(a), "--exit-code")
    assert code == 0 and "verdict: no architectural change" in out
    code, out, _ = cli(capsys, "diff", str(a), str(b), "--format", "json")
    data = json.loads(out)
    assert data["verdict"] == "architectural change" and data["architectural_change"] is True
    assert data["metrics"]["params"] == {"old": 139, "new": 187, "delta": 48, "relative": 48 / 139, "equal": False,
                                         "architectural": True}
    assert data["metrics"]["macs"]["delta"] == 44
    assert data["leaf_counts"] == {"same": 2, "changed": 3, "added": 0, "removed": 0}
    assert [c["new"]["name"] for c in data["leaves"]] == ["/fc1/Gemm", "/act1/Relu", "/fc2/Gemm"]
    code, out, _ = cli(capsys, "diff", str(a), str(b), "--format", "markdown", "--leaves", "all")
    assert out.startswith("**architectural change**") and out.count("| same |") == 2


def test_cli_reads_saved_json_results(tmp_path, capsys):
    a, b = tmp_path / "a.onnx", tmp_path / "b.onnx"
    onnx.save(mlp(), a)
    onnx.save(mlp(), b)
    assert cli(capsys, "analyze", str(a), "--format", "json", "-o", str(tmp_path / "a.json"))[0] == 0
    saved = read_result(tmp_path / "a.json")
    assert saved == analyze(str(a))  # the JSON round trip loses nothing
    code, out, _ = cli(capsys, "diff", str(tmp_path / "a.json"), str(b))
    assert code == 0 and "verdict: no architectural change" in out


def test_cli_bad_input_is_one_line(tmp_path, capsys):
    (tmp_path / "bad.json").write_text("{not json")
    onnx.save(mlp(), tmp_path / "a.onnx")
    code, out, err = cli(capsys, "diff", str(tmp_path / "bad.json"), str(tmp_path / "a.onnx"))
    assert code == 2 and out == "" and err.count("\n") == 1 and "bad.json" in err
    code, _, err = cli(capsys, "diff", str(tmp_path / "missing.onnx"), str(tmp_path / "a.onnx"))
    assert code == 2 and "missing.onnx" in err and err.count("\n") == 1
