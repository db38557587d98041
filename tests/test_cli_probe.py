"""`onnxlayer probe`: files and zoo models, the label of a zoo model, every format written out."""
from __future__ import annotations

import argparse
import csv
import json

import onnx
import pytest

pytest.importorskip("onnxruntime")

import builders  # noqa: E402
from onnxlayer.cli import probe as cli_probe  # noqa: E402
from onnxlayer.errors import SettingsError  # noqa: E402

FAST = ["--lines", "1", "--points", "8", "--provider", "cpu", "--no-progress"]


def parse(argv):
    parser = argparse.ArgumentParser()
    cli_probe.add_parser(parser.add_subparsers(dest="command"))
    return parser.parse_args(["probe", *argv, *FAST])


def test_file_to_json(tmp_path):
    path = tmp_path / "cnn.onnx"
    onnx.save(builders.cnn(), path)
    out = tmp_path / "probe.json"
    assert cli_probe.run(parse([str(path), "--directions", "4", "--format", "json", "-o", str(out)])) == 0
    data = json.loads(out.read_text())
    assert data["model"]["path"] == str(path)
    assert (data["summary"]["lines"], data["summary"]["points"], data["summary"]["directions"]) == (1, 8, 4)
    assert data["summary"]["input_dim"] == 64  # SPEC §5 example 2: one 8×8 image
    assert data["summary"]["region_bound_bits"] == pytest.approx(332.141078, abs=1e-6)


def test_zoo_labels_and_csv(tmp_path):
    out = tmp_path / "mlp.csv"
    assert cli_probe.run(parse(["--zoo", "mlp", "--directions", "0", "--format", "csv", "-o", str(out)])) == 0
    assert next(csv.reader(out.open()))[:2] == ["name", "op_type"]
    table = tmp_path / "mlp.txt"
    assert cli_probe.run(parse(["--zoo", "mlp", "--directions", "0", "--random-weights", "-o", str(table)])) == 0
    assert table.read_text().startswith("probe: zoo:mlp (graph only)\n")


def test_needs_exactly_one_model():
    with pytest.raises(SettingsError, match="exactly one"):
        cli_probe.run(parse([]))
