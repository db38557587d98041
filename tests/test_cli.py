"""CLI: analyze formats, JSON schema 1 field names, grouping, ops listing."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import onnx
import pytest

from onnxlayer.cli import main
from builders import cnn, mlp

SUMMARY_FIELDS = {"complexity_bits", "complexity_log10_regions", "intrinsic_power", "intrinsic_power_mean", "input_dim",
                  "output_dim", "depth", "units", "params", "macs", "bottleneck", "vc_bound", "opaque_leaves"}
LEAF_FIELDS = {"name", "op_type", "domain", "kind", "exact", "scope", "d_in", "d_out", "rank_cap", "groups",
               "complexity_bits", "intrinsic_power", "ambient_ratio", "redundancy", "params", "macs"}


@pytest.fixture
def cnn_path(tmp_path):
    path = tmp_path / "cnn.onnx"
    onnx.save(cnn(), path)
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_json_schema(cnn_path, capsys):
    code, out, err = run(capsys, "analyze", cnn_path, "--format", "json")
    assert code == 0 and err == ""
    data = json.loads(out)
    assert data["schema_version"] == 1
    assert data["tool"]["name"] == "onnxlayer"
    assert data["settings"] == {"tolerance": 0.01, "domain": 8.0}
    assert {"path", "sha256", "opset", "producer"} <= set(data["model"])
    assert SUMMARY_FIELDS <= set(data["summary"])
    assert set(data["summary"]["bottleneck"]) >= {"dim", "leaf"}
    assert all(LEAF_FIELDS <= set(leaf) for leaf in data["leaves"])
    assert isinstance(data["summary"]["input_dim"], int) and data["summary"]["input_dim"] == 64
    assert data["summary"]["complexity_bits"] == pytest.approx(332.141078, rel=1e-8)
    assert data["leaves"][1]["groups"] == [{"units": 256, "pieces": 2}]
    assert isinstance(data["warnings"], list)


def test_table_output(cnn_path, capsys):
    code, out, _ = run(capsys, "analyze", cnn_path)
    assert code == 0
    assert "complexity C" in out and "332.1411" in out and "top" in out and "/relu/Relu" in out


def test_csv_and_markdown(cnn_path, capsys, tmp_path):
    code, out, _ = run(capsys, "analyze", cnn_path, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["op_type"] for r in rows] == ["Conv", "Relu", "MaxPool", "Flatten", "Gemm"]
    target = tmp_path / "r.md"
    code, out, _ = run(capsys, "analyze", cnn_path, "--format", "markdown", "-o", str(target))
    assert code == 0 and out == "" and "| complexity C |" in target.read_text()


def test_group_by_scope(tmp_path, capsys):
    path = tmp_path / "mlp.onnx"
    onnx.save(mlp(), path)
    code, out, _ = run(capsys, "analyze", str(path), "--group-by", "scope:1", "--format", "json")
    groups = json.loads(out)["groups"]
    assert {g["scope"] for g in groups} == {"fc0", "fc1", "fc2", "act0", "act1"}
    code, out, err = run(capsys, "analyze", str(path), "--group-by", "layers")
    assert code == 2 and err.startswith("onnxlayer: error:")


def test_settings_change_numbers(tmp_path, capsys):
    from builders import mlp as build
    path = tmp_path / "tanh.onnx"
    onnx.save(build(activation="Tanh"), path)
    _, out_default, _ = run(capsys, "analyze", str(path), "--format", "json")
    _, out_fine, _ = run(capsys, "analyze", str(path), "--format", "json", "--tolerance", "0.001")
    assert json.loads(out_fine)["summary"]["complexity_bits"] > json.loads(out_default)["summary"]["complexity_bits"]
    code, _, err = run(capsys, "analyze", str(path), "--tolerance", "-1")
    assert code == 2 and "tolerance" in err


def test_zoo_analyze(capsys):
    code, out, _ = run(capsys, "analyze", "--zoo", "mlp", "--format", "json")
    assert code == 0 and json.loads(out)["summary"]["params"] == 269_322
    code, _, err = run(capsys, "analyze", "--zoo", "nope")
    assert code == 2 and "mlp" in err


def test_ops_listing(capsys):
    code, out, _ = run(capsys, "ops")
    assert code == 0
    for op in ("Conv", "Relu", "Softmax", "LayerNormalization", "QuantizeLinear", "Trilu", "Einsum"):
        assert f"\n{op} " in out


def test_console_script_runs(cnn_path):
    proc = subprocess.run([sys.executable, "-m", "onnxlayer", "analyze", cnn_path, "--format", "json"], capture_output=True, text=True)
    assert proc.returncode == 0 and json.loads(proc.stdout)["summary"]["input_dim"] == 64
