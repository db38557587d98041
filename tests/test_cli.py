"""CLI: main and the shared helpers; analyze formats, JSON schema 1 field names, grouping; ops and zoo."""
from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import onnx
import pytest

import onnxlayer
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


def test_the_command_exits_like_python_does(tmp_path):
    """The command skips the interpreter's teardown, not what a normal exit does: exit handlers
    run after the output, everything written is flushed (a large JSON into a pipe), the exit code
    is main's."""
    launcher = ("import atexit, sys; atexit.register(lambda: print('exit handler ran', file=sys.stderr)); "
                "from onnxlayer.cli import entry_point; sys.argv = ['onnxlayer', *sys.argv[1:]]; entry_point()")
    proc = subprocess.run([sys.executable, "-c", launcher, "analyze", "--zoo", "resnet50", "--format", "json"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stderr.splitlines()[-1] == "exit handler ran"
    assert len(json.loads(proc.stdout)["leaves"]) > 50
    proc = subprocess.run([sys.executable, "-c", launcher, "analyze", str(tmp_path / "missing.onnx")], capture_output=True, text=True)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [f"onnxlayer: error: {tmp_path / 'missing.onnx'}: no such file",
                                                                 "exit handler ran"]


def test_subcommands_are_one_module_each():
    from onnxlayer import cli

    parser = cli.build_parser()
    choices = parser._subparsers._group_actions[0].choices  # argparse keeps no public list of subcommands
    assert list(choices) == [m.__name__.rsplit(".", 1)[1] for m in cli.SUBCOMMANDS]  # each named for its module
    for module in cli.SUBCOMMANDS:
        assert choices[module.__name__.rsplit(".", 1)[1]].get_default("run") is module.run


def test_input_shape_text():
    from onnxlayer.cli.shared import parse_input_shape
    from onnxlayer.errors import SettingsError

    assert parse_input_shape("input_ids=1x128") == ("input_ids", (1, 128))
    assert parse_input_shape("a=b=1X3") == ("a=b", (1, 3))  # the last '=' splits; 'X' like 'x'
    for bad, why in [("x", "expected NAME="), ("=1x3", "expected NAME="), ("x=", "expected NAME="), ("x=1xq", "integers")]:
        with pytest.raises(SettingsError, match=why):
            parse_input_shape(bad)


def test_model_or_zoo_exactly_once(cnn_path, capsys):
    for argv in (["analyze"], ["analyze", cnn_path, "--zoo", "mlp"], ["algebra"], ["probe"]):
        code, out, err = run(capsys, *argv)
        assert (code, out, err) == (2, "", "onnxlayer: error: give exactly one of MODEL or --zoo NAME\n")


@pytest.mark.parametrize("argv,message", [
    (["analyze", "--zoo", "mlp", "--top", "-1"], "--top must be 0 or more, got -1"),  # [:-1] would list all leaves but one
    (["convert", "model.h5", "-o", "out.onnx", "--opset", "0"], "--opset must be positive, got 0"),  # 0 read as no opset
])
def test_out_of_range_counts_are_one_line(argv, message, capsys):
    assert run(capsys, *argv) == (2, "", f"onnxlayer: error: {message}\n")


def test_opset_of_an_onnx_file_is_one_line(cnn_path, tmp_path, capsys):
    """convert copies an ONNX file at its own opset: --opset would be ignored, so it is refused."""
    code, out, err = run(capsys, "convert", cnn_path, "-o", str(tmp_path / "out.onnx"), "--opset", "13")
    assert (code, out) == (2, "") and err == (f"onnxlayer: error: --opset sets the opset of a conversion from Keras, TensorFlow "
                                              f"or PyTorch; {cnn_path} is an ONNX file already\n")
    assert not (tmp_path / "out.onnx").exists()


def test_bad_input_shape_is_one_line(cnn_path, capsys):
    code, out, err = run(capsys, "analyze", cnn_path, "--input-shape", "x=1xa")
    assert (code, out) == (2, "") and err == "onnxlayer: error: --input-shape 'x=1xa': dims must be integers separated by 'x'\n"


def test_zoo_list_and_export(tmp_path, capsys):
    from onnxlayer.models_access import zoo_module

    code, out, _ = run(capsys, "zoo")
    assert code == 0 and [line.split()[0] for line in out.splitlines()] == zoo_module().names()
    assert out.splitlines()[0].split(None, 1)[1].startswith("MLP 784-256-256-10 with ReLU; ")  # the name once, as a column
    target = tmp_path / "mlp.onnx"
    code, out, _ = run(capsys, "zoo", "export", "mlp", "-o", str(target), "--graph-only")
    assert code == 0 and out == f"wrote {target}\n"
    assert json.loads(run(capsys, "analyze", str(target), "--format", "json")[1])["summary"]["params"] == 269_322
    code, _, err = run(capsys, "zoo", "export", "mlp")
    assert code == 2 and "usage: onnxlayer zoo export NAME -o FILE.onnx" in err


def test_unwritable_output_is_one_line(capsys):
    code, out, err = run(capsys, "analyze", "--zoo", "mlp", "-o", "/nonexistent-dir/r.json")
    assert (code, out) == (2, "") and err.startswith("onnxlayer: error: cannot write /nonexistent-dir/r.json") and err.count("\n") == 1


def test_cli_package_runs_as_a_module(cnn_path):
    proc = subprocess.run([sys.executable, "-m", "onnxlayer.cli", "--version"], capture_output=True, text=True)
    assert proc.returncode == 0 and proc.stdout.strip() == f"onnxlayer {onnxlayer.__version__}"
