"""`onnxlayer algebra`: text and JSON, the zoo's default shapes, errors before any work."""
from __future__ import annotations

import argparse
import json

import onnx
import pytest

import builders
from onnxlayer.cli import algebra as cli_algebra
from onnxlayer.errors import SettingsError


def parse(argv):
    parser = argparse.ArgumentParser()
    cli_algebra.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["algebra", *argv])


def test_text_and_json(tmp_path):
    path = tmp_path / "res.onnx"
    onnx.save(builders.residual(skip=True), path)
    out = tmp_path / "out.txt"
    assert cli_algebra.run(parse([str(path), "-o", str(out)])) == 0
    text = out.read_text()
    assert text.startswith(f"{path}: C = 20 bits, P = 0.000, D0 = 16")  # SPEC §5 example 3
    assert "(id ⊕ Gemm∘Relu∘Gemm)→Add" in text
    assert cli_algebra.run(parse([str(path), "--format", "json", "-o", str(out)])) == 0
    assert json.loads(out.read_text())["tree"]["complexity_bits"] == pytest.approx(20.0)


def test_zoo_uses_default_shapes(tmp_path):
    out = tmp_path / "bert.json"
    assert cli_algebra.run(parse(["--zoo", "bert_base", "--format", "json", "-o", str(out)])) == 0
    data = json.loads(out.read_text())
    assert data["model"]["path"] == "zoo:bert_base"
    assert data["summary"]["input_dim"] == 2 * 128 * 768  # word + token-type embeddings at seq 128


def test_errors_before_work():
    with pytest.raises(SettingsError, match="exactly one"):
        cli_algebra.run(parse([]))
    with pytest.raises(SettingsError, match="exactly one"):
        cli_algebra.run(parse(["a.onnx", "--zoo", "mlp"]))
    with pytest.raises(SettingsError, match="at least 20"):
        cli_algebra.run(parse(["--zoo", "mlp", "--width", "19"]))
