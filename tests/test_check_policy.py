"""Policy files for `onnxlayer check`: what loads, and one-line errors (exit 2) for what does not."""
from __future__ import annotations

import onnx
import pytest

from builders import mlp
from onnxlayer import OnnxLayerError
from onnxlayer.cli import main
from onnxlayer.policy import (METRICS, RULE_KINDS, Change, ForbidOps, Limit, PolicyError, Runtime, Threshold,
                              load_policy, parse_policy)
from onnxlayer.gate import metric_values
from onnxlayer import analyze

EXAMPLE = """
version = 1

[analysis]
tolerance = 0.02
input_shapes = { x = [1, 4] }

[[limit]]
name = "parameter budget"
metric = "params"
max = 30_000_000

[[limit]]
metric = "intrinsic_power_mean"
min = -3.5
severity = "warning"

[[change]]
name = "complexity drift"
metric = "complexity_bits"
max_increase = "5%"
max_decrease = 100
message = "ask the model owners"

[[forbid_ops]]
name = "no contrib ops"
ops = ["com.microsoft::*", "Loop"]

[[runtime]]
providers = ["CPUExecutionProvider"]
"""


def test_example_policy_loads():
    p = parse_policy(EXAMPLE, "example.toml")
    assert p.tolerance == 0.02 and p.domain is None and p.input_shapes == {"x": (1, 4)}
    limit, warn, change, forbid, runtime = p.rules
    assert limit == Limit(name="parameter budget", metric="params", max=30_000_000)
    assert warn.name == "limit intrinsic_power_mean" and warn.severity == "warning" and warn.min == -3.5
    assert isinstance(change, Change) and change.max_increase == Threshold(0.05, True)
    assert change.max_decrease == Threshold(100, False) and change.message == "ask the model owners"
    assert change.max_increase.allowed(-200.0) == pytest.approx(10.0)
    assert isinstance(forbid, ForbidOps) and forbid.ops == ("com.microsoft::*", "Loop")
    assert isinstance(runtime, Runtime) and runtime.name == "runtime" and runtime.severity == "error"


def test_metric_names_are_the_summary_fields():
    """Every numeric field of the JSON summary (schema 1) can be limited, and nothing else."""
    result = analyze(mlp())
    numeric = {k for k, v in result.to_dict()["summary"].items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    assert numeric | {"bottleneck_dim", "file_size"} == set(METRICS)
    values = metric_values(result, 1234)
    assert values["params"] == 139 and values["file_size"] == 1234 and values["bottleneck_dim"] == 3


@pytest.mark.parametrize("text, expected", [
    ("version = 1\n[[limit]]\nmetric = 'params'\nmaxx = 5\n",
     "p.toml: [[limit]] #1 key 'maxx': unknown key; expected one of: name, severity, message, metric, min, max"),
    ("version = 1\nlimits = []\n", "p.toml: key 'limits': unknown key; expected one of: version, analysis, limit,"),
    ("version = 1\n[[limit]]\nname = 'budget'\nmetric = 'params'\nmax = 'lots'\n",
     "p.toml: [[limit]] #1 ('budget') key 'max': expected a number, got a string \"lots\""),
    ("version = 1\n[[limit]]\nmetric = 'parameters'\nmax = 5\n",
     "p.toml: [[limit]] #1 key 'metric': expected one of complexity_bits, "),
    ("version = 1\n[[limit]]\nmetric = 'params'\n", "p.toml: [[limit]] #1 key 'max': expected at least one of min, max"),
    ("version = 1\n[[change]]\nmetric = 'params'\nmax_increase = '5 percent'\n",
     "p.toml: [[change]] #1 key 'max_increase': expected a non-negative number or a percentage like \"5%\""),
    ("version = 1\n[[limit]]\nmetric = 'params'\nmax = 5\nseverity = 'fatal'\n",
     "p.toml: [[limit]] #1 key 'severity': expected \"error\" or \"warning\", got a string \"fatal\""),
    ("version = 1\n[[forbid_ops]]\nops = 'Loop'\n",
     "p.toml: [[forbid_ops]] #1 key 'ops': expected a non-empty array of strings, got a string \"Loop\""),
    ("version = 1\n[[runtime]]\n", "p.toml: [[runtime]] #1 key 'providers': missing; expected a non-empty array of strings"),
    ("version = 1\n[[opset]]\nmin = 13.5\n", "p.toml: [[opset]] #1 key 'min': expected a positive integer, got a number 13.5"),
    ("version = 1\n[[input]]\ninput = 'x'\nshape = [1, 0]\n", "p.toml: [[input]] #1 key 'shape': expected an array of dims"),
    ("version = 1\n[analysis]\ntolerance = -1\n[[no_opaque_leaves]]\n",
     "p.toml: [analysis] key 'tolerance': expected a positive number, got an integer -1"),
    ("version = 1\nlimit = 3\n", "p.toml: key 'limit': expected an array of tables ([[limit]]), got an integer 3"),
    ("[[no_opaque_leaves]]\n", "p.toml: key 'version': missing; expected version = 1"),
    ("version = 2\n[[no_opaque_leaves]]\n", "p.toml: key 'version': expected 1 (the only policy version), got an integer 2"),
    ("version = 1\n", "p.toml: no rules; add at least one of: [[limit]], [[change]]"),
    ("version = 1\n[[limit]\nmetric = 'params'\n", "p.toml: not valid TOML: "),
])
def test_malformed_policies_name_file_key_and_expectation(text, expected):
    with pytest.raises(PolicyError) as info:
        parse_policy(text, "p.toml")
    assert isinstance(info.value, OnnxLayerError)
    assert str(info.value).startswith(expected), str(info.value)
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("body, words", [
    ("version = 1\n[[limit]]\nmetric = 'params'\nmax = 5\nbogus = 1\n", ("policy.toml", "'bogus'", "unknown key")),
    ("version = 1\n[[limit]]\nmetric = 'params'\nmax = [5]\n", ("policy.toml", "'max'", "expected a number")),
    ("version = 1\n[[limit]\n", ("policy.toml", "not valid TOML", "line 2")),
])
def test_cli_malformed_policy_exits_2_with_one_line(tmp_path, capsys, body, words):
    model = tmp_path / "m.onnx"
    onnx.save(mlp(), model)
    policy = tmp_path / "policy.toml"
    policy.write_text(body)
    code = main(["check", str(model), "--policy", str(policy)])
    out, err = capsys.readouterr()
    assert code == 2 and out == ""
    assert err.startswith("onnxlayer: error: ") and err.count("\n") == 1
    assert all(w in err for w in words), err


def test_missing_policy_file(tmp_path, capsys):
    with pytest.raises(PolicyError, match="nope.toml: cannot read the policy"):
        load_policy(tmp_path / "nope.toml")


def test_every_rule_kind_has_a_documented_table():
    """docs/deployment.md describes every rule kind the loader accepts."""
    from pathlib import Path

    doc = (Path(__file__).parent.parent / "docs" / "deployment.md").read_text(encoding="utf-8")
    assert all(f"[[{kind}]]" in doc for kind in RULE_KINDS)
    assert all(f"`{m}`" in doc for m in METRICS)
