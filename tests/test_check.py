"""`onnxlayer check`: every rule kind passes and fails (exit 1, naming the rule and both numbers),
baselines, --strict with opaque ops, warnings that never change the exit code, and --init.

The numbers come from the models built here: the MLP 4→8→8→3 of SPEC §5 has W = (4·8+8) +
(8·8+8) + (8·3+3) = 139 parameters, 4·8 + 8·8 + 8·3 = 120 MACs, nonlinear depth 2, opset 17.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import helper, numpy_helper

from builders import gemm, mlp, model, value
from onnxlayer.cli import main
from onnxlayer.gate import check
from onnxlayer.policy import CheckResult, parse_policy

W_MLP = (4 * 8 + 8) + (8 * 8 + 8) + (8 * 3 + 3)
MACS_MLP = 4 * 8 + 8 * 8 + 8 * 3


def opaque_model() -> onnx.ModelProto:
    """[1,4] → Gemm 4×8 → acme.ops::Mystery (no registry rule: an opaque leaf) → Relu."""
    n1, w1 = gemm("x", "h", 4, 8, "fc1")
    nodes = [n1, helper.make_node("Mystery", ["h"], ["m"], name="/mystery/Mystery", domain="acme.ops"),
             helper.make_node("Relu", ["m"], ["y"], name="/relu/Relu")]
    m = model(nodes, [value("x", 1, 4)], [value("y", 1, 8)], w1)
    m.opset_import.append(helper.make_opsetid("acme.ops", 1))
    m.graph.value_info.append(value("m", 1, 8))
    return m


def sequence_model() -> onnx.ModelProto:
    """x [N, T, 4] → MatMul 4×3 → Relu: the time dim T is symbolic too."""
    w = numpy_helper.from_array(np.ones((4, 3), "float32"), "w")
    nodes = [helper.make_node("MatMul", ["x", "w"], ["h"], name="/proj/MatMul"),
             helper.make_node("Relu", ["h"], ["y"], name="/relu/Relu")]
    return model(nodes, [value("x", "N", "T", 4)], [value("y", "N", "T", 3)], [w])


@pytest.fixture
def files(tmp_path):
    """The MLP, a widened MLP (8→12 hidden), the opaque model and the sequence model, saved."""
    paths = {}
    for name, m in (("mlp", mlp()), ("wide", mlp((4, 8, 12, 3))), ("opaque", opaque_model()),
                    ("seq", sequence_model())):
        paths[name] = tmp_path / f"{name}.onnx"
        onnx.save(m, paths[name])
    return paths


def policy(tmp_path: Path, body: str, name: str = "policy.toml") -> Path:
    path = tmp_path / name
    path.write_text("version = 1\n" + textwrap.dedent(body))
    return path


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def rule_line(out: str, name: str) -> str:
    lines = [line.strip() for line in out.splitlines() if f" {name}: " in line]
    assert len(lines) == 1, out
    return lines[0]


def test_passing_policy_exits_0(files, tmp_path, capsys):
    p = policy(tmp_path, f"""
        [[limit]]
        name = "parameter budget"
        metric = "params"
        max = {W_MLP}
        [[limit]]
        name = "depth"
        metric = "depth"
        min = 1
        max = 2
        [[no_opaque_leaves]]
        [[opset]]
        min = 13
        max = 17
        [[only_batch_symbolic]]
        [[input]]
        input = "x"
        shape = [1, 4]
        [[runtime]]
        providers = ["CPUExecutionProvider"]
        """)
    code, out, err = run(capsys, "check", files["mlp"], "--policy", p)
    assert code == 0, out + err
    assert rule_line(out, "parameter budget") == f"PASS  parameter budget: params = {W_MLP} (limit: params ≤ {W_MLP})"
    assert "FAIL" not in out and "result: PASS" in out


# one failing rule per kind: (policy body, rule name, words the FAIL line must hold: both numbers)
FAILING = {
    "limit": ("""
        [[limit]]
        name = "parameter budget"
        metric = "params"
        max = 100
        """, "parameter budget", [f"params = {W_MLP}", "params ≤ 100"]),
    "limit-min": ("""
        [[limit]]
        name = "enough MACs"
        metric = "macs"
        min = 1000
        """, "enough MACs", [f"macs = {MACS_MLP}", "macs ≥ 1,000"]),
    "forbid_ops": ("""
        [[forbid_ops]]
        name = "no relu"
        ops = ["ai.onnx::Re*"]
        """, "no relu", ["2 forbidden node(s): ai.onnx::Relu ×2", "none of ai.onnx::Re*"]),
    "allow_ops": ("""
        [[allow_ops]]
        name = "only gemm"
        ops = ["Gemm"]
        """, "only gemm", ["2 node(s) outside the allowed ops: ai.onnx::Relu ×2", "only Gemm"]),
    "opset": ("""
        [[opset]]
        name = "recent opset"
        min = 18
        """, "recent opset", ["ai.onnx opset 17", "ai.onnx opset ≥ 18"]),
    "input": ("""
        [[input]]
        name = "image input"
        input = "x"
        shape = ["batch", 3, 224, 224]
        """, "image input", ["x [1, 4]", "input x of shape [batch, 3, 224, 224]"]),
    "input-missing": ("""
        [[input]]
        name = "pixel input"
        input = "pixels"
        """, "pixel input", ["no input 'pixels' (inputs: x)", "input pixels"]),
    "runtime": ("""
        [[runtime]]
        name = "all on azure"
        providers = ["AzureExecutionProvider"]
        """, "all on azure", ["does not load", "fallback to CPU EP has been explicitly disabled",
                              "every node on AzureExecutionProvider"]),
}


@pytest.mark.parametrize("case", sorted(FAILING))
def test_each_rule_kind_fails_with_exit_1(files, tmp_path, capsys, case):
    body, name, words = FAILING[case]
    if case == "runtime":
        ort = pytest.importorskip("onnxruntime")
        if "AzureExecutionProvider" not in ort.get_available_providers():
            pytest.skip("this onnxruntime has no second execution provider to refuse the CPU fallback")
    code, out, err = run(capsys, "check", files["mlp"], "--policy", policy(tmp_path, body))
    assert code == 1, out + err
    line = rule_line(out, name)
    assert line.startswith(f"FAIL  {name}: ") and all(w in line for w in words), line
    assert "result: FAIL" in out


def test_file_size_limit(files, tmp_path, capsys):
    size = os.path.getsize(files["mlp"])
    p = policy(tmp_path, f"""
        [[limit]]
        name = "small file"
        metric = "file_size"
        max = {size - 1}
        """)
    code, out, _ = run(capsys, "check", files["mlp"], "--policy", p)
    assert code == 1
    assert f"file_size = {size:,} (limit: file_size ≤ {size - 1:,})" in rule_line(out, "small file")


def test_opaque_and_custom_domain_rules_fail(files, tmp_path, capsys):
    p = policy(tmp_path, """
        [[no_opaque_leaves]]
        name = "every op understood"
        [[no_custom_domains]]
        name = "portable domains"
        [[runtime]]
        name = "loads on CPU"
        providers = ["CPUExecutionProvider"]
        """)
    code, out, _ = run(capsys, "check", files["opaque"], "--policy", p)
    assert code == 1
    assert rule_line(out, "every op understood") == \
        "FAIL  every op understood: 1 opaque leaf(s): acme.ops::Mystery (limit: 0 opaque leaves)"
    assert "1 node(s) in custom domains: acme.ops" in rule_line(out, "portable domains")
    # onnxruntime has no kernel for the made-up op: the model does not load
    assert rule_line(out, "loads on CPU").startswith("FAIL  loads on CPU: does not load: ")


@pytest.mark.parametrize("strict", [False, True])
def test_opaque_op_fails_a_policy_forbidding_them_with_and_without_strict(files, tmp_path, capsys, strict):
    p = policy(tmp_path, """
        [[no_opaque_leaves]]
        name = "every op understood"
        [[limit]]
        name = "parameter budget"
        metric = "params"
        max = 1000
        """)
    code, out, _ = run(capsys, "check", files["opaque"], "--policy", p, *(["--strict"] if strict else []))
    assert code == 1
    assert rule_line(out, "every op understood").startswith("FAIL")
    assert rule_line(out, "parameter budget").startswith("PASS")  # the report is complete


def test_strict_adds_an_error_rule_for_opaque_leaves(files, tmp_path, capsys):
    p = policy(tmp_path, """
        [[limit]]
        name = "parameter budget"
        metric = "params"
        max = 1000
        """)
    assert run(capsys, "check", files["opaque"], "--policy", p)[0] == 0
    code, out, _ = run(capsys, "check", files["opaque"], "--policy", p, "--strict")
    assert code == 1
    assert rule_line(out, "--strict: no opaque leaves").startswith("FAIL")


def test_symbolic_dims_and_policy_input_shapes(files, tmp_path, capsys):
    p = policy(tmp_path, """
        [analysis]
        input_shapes = { x = [1, 5, 4] }
        [[only_batch_symbolic]]
        name = "static shapes"
        [[input]]
        name = "sequence input"
        input = "x"
        shape = ["N", "T", 4]
        [[limit]]
        name = "macs per sample"
        metric = "macs"
        max = 60
        """)
    code, out, _ = run(capsys, "check", files["seq"], "--policy", p)
    assert code == 1
    assert rule_line(out, "static shapes") == ("FAIL  static shapes: 1 symbolic non-batch dim(s): x[1] = 'T' "
                                               "(limit: only dim 0 of each input symbolic)")
    assert rule_line(out, "sequence input").startswith("PASS  sequence input: x [N, T, 4]")
    # T = 5 from the policy: 5 rows × 4·3 MACs
    assert rule_line(out, "macs per sample") == "PASS  macs per sample: macs = 60 (limit: macs ≤ 60)"


def test_baseline_relative_change_fails(files, tmp_path, capsys):
    p = policy(tmp_path, """
        [[change]]
        name = "parameter growth"
        metric = "params"
        max_increase = "5%"
        [[change]]
        name = "mac growth"
        metric = "macs"
        max_increase = 50
        """)
    code, out, _ = run(capsys, "check", files["wide"], "--policy", p, "--baseline", files["mlp"])
    assert code == 1
    w_wide = (4 * 8 + 8) + (8 * 12 + 12) + (12 * 3 + 3)
    macs_wide = 4 * 8 + 8 * 12 + 12 * 3
    growth = (w_wide - W_MLP) / W_MLP * 100
    assert rule_line(out, "parameter growth") == (
        f"FAIL  parameter growth: params {W_MLP} → {w_wide} (+{w_wide - W_MLP}, +{growth:.2f}%) "
        "(limit: params: max_increase 5%)")
    assert rule_line(out, "mac growth").startswith(f"PASS  mac growth: macs {MACS_MLP} → {macs_wide} (+44")


def test_baseline_decrease_and_json_baseline(files, tmp_path, capsys):
    assert run(capsys, "analyze", files["wide"], "--format", "json", "-o", tmp_path / "wide.json")[0] == 0
    p = policy(tmp_path, """
        [[change]]
        name = "complexity drop"
        metric = "complexity_bits"
        max_decrease = "10%"
        [[change]]
        name = "file growth"
        metric = "file_size"
        max_increase = "50%"
        [[same_architecture]]
        name = "same network"
        """)
    code, out, _ = run(capsys, "check", files["mlp"], "--policy", p, "--baseline", tmp_path / "wide.json")
    assert code == 1
    assert rule_line(out, "complexity drop").startswith("FAIL  complexity drop: complexity_bits ")
    assert "a JSON result has no file size" in rule_line(out, "file growth")
    assert rule_line(out, "file growth").startswith("SKIP")
    line = rule_line(out, "same network")
    assert line.startswith("FAIL  same network: architectural change: ") and "W 187 → 139" in line


def test_same_architecture_passes_for_a_renamed_copy(files, tmp_path, capsys):
    renamed = mlp()
    for i, node in enumerate(renamed.graph.node):
        node.name = f"n{i}"
    onnx.save(renamed, tmp_path / "renamed.onnx")
    p = policy(tmp_path, "[[same_architecture]]\nname = \"same network\"\n")
    code, out, _ = run(capsys, "check", tmp_path / "renamed.onnx", "--policy", p, "--baseline", files["mlp"])
    assert code == 0 and rule_line(out, "same network").startswith("PASS  same network: no architectural change")


def test_baseline_rules_skip_without_a_baseline(files, tmp_path, capsys):
    p = policy(tmp_path, "[[same_architecture]]\nname = \"same network\"\n[[change]]\nmetric = \"params\"\n"
                         "max_increase = 0\n")
    code, out, _ = run(capsys, "check", files["mlp"], "--policy", p)
    assert code == 0
    assert rule_line(out, "same network") == "SKIP  same network: - (limit: no architectural change) — " \
                                             "no baseline: no --baseline given"


def test_baseline_dir_pairs_models_by_relative_path(files, tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base").mkdir()
    (tmp_path / "base" / "mlp.onnx").write_bytes(files["wide"].read_bytes())
    p = policy(tmp_path, "[[change]]\nname = \"no growth\"\nmetric = \"params\"\nmax_increase = 0\n")
    code, out, _ = run(capsys, "check", "mlp.onnx", "opaque.onnx", "--policy", p, "--baseline-dir", "base")
    assert code == 0  # mlp shrank against its baseline; opaque.onnx is new
    assert "PASS  no growth: params 187 → 139" in out
    assert f"no baseline: {Path('base') / 'opaque.onnx'} does not exist (a new model)" in out


def test_warnings_never_change_the_exit_code(files, tmp_path, capsys):
    p = policy(tmp_path, """
        [[limit]]
        name = "soft budget"
        metric = "params"
        max = 100
        severity = "warning"
        message = "consider pruning"
        [[limit]]
        name = "hard budget"
        metric = "params"
        max = 1000
        """)
    code, out, _ = run(capsys, "check", files["mlp"], "--policy", p)
    assert code == 0
    assert rule_line(out, "soft budget") == f"WARN  soft budget: params = {W_MLP} (limit: params ≤ 100) — consider pruning"
    assert "result: PASS — 1 passed, 0 failed, 1 warning(s), 0 skipped (1 model)" in out


def test_runtime_skips_when_a_provider_is_missing(files, tmp_path, capsys):
    pytest.importorskip("onnxruntime")
    p = policy(tmp_path, '[[runtime]]\nname = "on the GPU"\nproviders = ["NoSuchExecutionProvider"]\n')
    code, out, _ = run(capsys, "check", files["mlp"], "--policy", p)
    assert code == 0
    assert rule_line(out, "on the GPU").startswith("SKIP  on the GPU: - (limit: every node on NoSuchExecutionProvider)"
                                                   " — NoSuchExecutionProvider not available in this onnxruntime")


def test_runtime_skips_without_onnxruntime(files, tmp_path):
    """Where onnxruntime is not installed the rule says so (a process where it cannot be imported)."""
    p = policy(tmp_path, '[[runtime]]\nname = "loads"\nproviders = ["CPUExecutionProvider"]\n')
    code = ("import sys; sys.modules['onnxruntime'] = None\n"
            "from onnxlayer.cli import main\n"
            f"sys.exit(main(['check', {str(files['mlp'])!r}, '--policy', {str(p)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "SKIP  loads: - (limit: every node on CPUExecutionProvider) — onnxruntime is not installed" in done.stdout


def test_limit_on_an_undefined_metric_skips_with_the_reason(files, tmp_path, capsys):
    """The VC bound needs an all-PWL network; a Sigmoid MLP has none, so the limit cannot be measured."""
    onnx.save(mlp(activation="Sigmoid"), tmp_path / "sig.onnx")
    p = policy(tmp_path, '[[limit]]\nname = "vc"\nmetric = "vc_bound"\nmax = 1e6\n')
    code, out, _ = run(capsys, "check", tmp_path / "sig.onnx", "--policy", p)
    assert code == 0
    assert rule_line(out, "vc").startswith("SKIP  vc: none (limit: vc_bound ≤ 1000000) — vc_bound is not measured: "
                                           "not piecewise linear")


def test_bad_model_exits_2(files, tmp_path, capsys):
    p = policy(tmp_path, "[[no_opaque_leaves]]\n")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    code, out, err = run(capsys, "check", tmp_path / "junk.onnx", "--policy", p)
    assert code == 2 and out == "" and err.count("\n") == 1 and "junk.onnx" in err
    code, out, err = run(capsys, "check", files["mlp"])
    assert code == 2 and "--policy" in err


def test_zoo_models_are_checked(tmp_path, capsys):
    p = policy(tmp_path, '[[limit]]\nname = "params"\nmetric = "params"\nmax = 1\n')
    code, out, _ = run(capsys, "check", "zoo:lenet5", "--policy", p)
    assert code == 1 and "model: zoo:lenet5" in out
    code, out, _ = run(capsys, "check", "--zoo", "lenet5", "--policy", p)
    assert code == 1 and "model: zoo:lenet5" in out


def test_python_api_returns_a_typed_result(files, tmp_path):
    import onnxlayer

    p = parse_policy('version = 1\n[[limit]]\nname = "budget"\nmetric = "params"\nmax = 100\n', "inline")
    result = check([files["mlp"], mlp((4, 2, 3))], p)
    assert isinstance(result, CheckResult) and result.exit_code == 1 and not result.passed
    first, second = result.models
    assert first.outcomes[0].status == "fail" and first.outcomes[0].value == W_MLP
    assert second.outcomes[0].status == "pass" and second.outcomes[0].value == (4 * 2 + 2) + (2 * 3 + 3)
    assert first.metrics["params"] == W_MLP and first.metrics["file_size"] == os.path.getsize(files["mlp"])
    assert onnxlayer.check is check


def test_init_writes_a_policy_the_model_passes(files, tmp_path, capsys):
    out_path = tmp_path / "starter.toml"
    code, out, _ = run(capsys, "check", "--init", files["mlp"], "-o", out_path)
    assert code == 0 and out == f"wrote {out_path}\n"
    text = out_path.read_text()
    assert text.startswith("# onnxlayer check policy") and f"max = {W_MLP}    # now: {W_MLP}" in text
    code, out, _ = run(capsys, "check", files["mlp"], "--policy", out_path)
    assert code == 0, out
    assert "FAIL" not in out and "WARN" not in out
    # the starter's limits sit at today's numbers: the wider model breaks them
    code, out, _ = run(capsys, "check", files["wide"], "--policy", out_path, "--baseline", files["mlp"])
    assert code == 1 and "FAIL  params budget: params = 187 (limit: params ≤ 139)" in out
    assert "FAIL  parameter growth: params 139 → 187" in out
    # --init never overwrites
    code, _, err = run(capsys, "check", "--init", files["mlp"], "-o", out_path)
    assert code == 2 and "exists" in err


def test_init_comments_out_rules_the_model_would_fail(files, tmp_path, capsys):
    code, out, _ = run(capsys, "check", "--init", files["opaque"])
    assert code == 0
    assert ("# off: the model fails this today (1 opaque leaf(s): acme.ops::Mystery)\n"
            "# [[no_opaque_leaves]]\n# name = \"every operator understood\"\n") in out
    assert 'allow = ["acme.ops"]    # the model uses these today' in out
    # onnxruntime has no kernel for acme.ops::Mystery: the runtime rule is off too
    assert "# off: the model fails this today (does not load: " in out and '# [[runtime]]' in out
    policy_path = tmp_path / "p.toml"
    policy_path.write_text(out)
    code, out, _ = run(capsys, "check", files["opaque"], "--policy", policy_path)
    assert code == 0 and "FAIL" not in out


def test_json_report_fields(files, tmp_path, capsys):
    p = policy(tmp_path, '[[limit]]\nname = "budget"\nmetric = "params"\nmax = 100\n')
    code, out, err = run(capsys, "check", files["mlp"], "--policy", p, "--format", "json")
    assert code == 1
    data = json.loads(out)
    assert "FAIL  budget" in err  # the log still gets the text report
    assert data["passed"] is False and data["exit_code"] == 1
    assert data["counts"] == {"pass": 0, "fail": 1, "warn": 0, "skip": 0}
    (m,) = data["models"]
    assert m["model"] == str(files["mlp"]) and m["metrics"]["params"] == W_MLP
    assert m["rules"] == [{"name": "budget", "kind": "limit", "severity": "error", "status": "fail",
                           "measured": f"params = {W_MLP}", "limit": "params ≤ 100", "value": W_MLP, "detail": "",
                           "message": None}]
