"""`onnxlayer compare`: sources from files and the zoo, exit codes, errors before any work."""
from __future__ import annotations

import argparse
import csv
import json

import onnx
import pytest

import builders
from onnxlayer.cli import compare as cli_compare
from onnxlayer.errors import SettingsError
from onnxlayer.models_access import zoo_module


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cmp")
    mlp = d / "mlp.onnx"
    onnx.save(builders.mlp(), mlp)
    bad = d / "bad.onnx"
    bad.write_bytes(b"not a model")
    return {"mlp": str(mlp), "bad": str(bad)}


def parse(argv):
    parser = argparse.ArgumentParser()
    cli_compare.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["compare", *argv])


def test_zoo_sources():
    assert cli_compare.zoo_sources("mlp, lenet5") == ["zoo:mlp", "zoo:lenet5"]
    assert cli_compare.zoo_sources("all") == ["zoo:" + n for n in zoo_module().names()]
    with pytest.raises(SettingsError, match="nosuch"):
        cli_compare.zoo_sources("mlp,nosuch")
    with pytest.raises(SettingsError, match="none given"):
        cli_compare.zoo_sources(" , ")


def test_zoo_is_repeatable_each_model_once(tmp_path):
    """`--zoo mlp --zoo lenet5,mlp` adds both models (the second flag does not replace the first), mlp once."""
    assert cli_compare.zoo_sources(["mlp", "lenet5,mlp"]) == ["zoo:mlp", "zoo:lenet5"]
    out = tmp_path / "cmp.csv"
    args = parse(["--zoo", "mlp", "--zoo", "lenet5,mlp", "--format", "csv", "-o", str(out)])
    assert args.run(args) == 0
    assert [r["model"] for r in csv.DictReader(out.open())] == ["zoo:mlp", "zoo:lenet5"]


@pytest.mark.parametrize("command", ["analyze", "algebra", "probe"])
def test_one_model_commands_refuse_a_second_zoo(command, capsys):
    from onnxlayer.cli import main

    with pytest.raises(SystemExit) as exit_:
        main([command, "--zoo", "mlp", "--zoo", "lenet5"])
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "onnxlayer: error: --zoo given twice ('mlp' and 'lenet5'): give one model\n"


def test_exit_codes_and_output(files, tmp_path, capsys):
    out = tmp_path / "cmp.csv"
    args = parse([files["mlp"], "--zoo", "lenet5", "--format", "csv", "-o", str(out), "--sort", "C"])
    assert args.run(args) == 0
    rows = list(csv.DictReader(out.open()))
    assert [r["model"] for r in rows] == [files["mlp"], "zoo:lenet5"]  # ascending C: 14.7 bits first
    args = parse([files["mlp"], files["bad"], "--format", "json"])
    assert args.run(args) == 2
    captured = capsys.readouterr()
    assert json.loads(captured.out)["rows"][1]["ok"] is False
    assert captured.err.startswith(f"onnxlayer: {files['bad']}: ")


def test_unused_input_shape_is_warned_on_stderr(files, capsys):
    args = parse([files["mlp"], "--input-shape", "tokens=1x8"])
    assert args.run(args) == 0
    assert "onnxlayer: warning: --input-shape tokens" in capsys.readouterr().err


def test_errors_before_work(files):
    with pytest.raises(SettingsError, match="give model files"):
        cli_compare.run(parse([]))
    with pytest.raises(SettingsError, match="unknown column"):
        cli_compare.run(parse([files["mlp"], "--sort", "xyz"]))
    with pytest.raises(SettingsError, match="tolerance"):
        cli_compare.run(parse([files["mlp"], "--tolerance", "-1"]))
