"""The probe result's stable output fields and the `onnxlayer probe` command line.

The probe's parts are tested beside them: tests/test_probe_lines.py, _patterns, _rank,
_stats, _weights, _engine.
"""
from __future__ import annotations

import argparse
import json
import math

import onnx
import pytest

pytest.importorskip("onnxruntime")

from onnxlayer.cli import probe as probe_cli  # noqa: E402
from onnxlayer.present.probe import render as render_probe  # noqa: E402
from onnxlayer.probe.run import probe  # noqa: E402

from builders import cnn  # noqa: E402


def test_json_fields_are_stable():
    r = probe(cnn(), lines=1, points=16, directions=4, progress=False)
    d = json.loads(r.to_json())
    for key in ("lines", "points", "span", "regions_per_line", "region_bound_bits", "provider", "seed"):
        assert key in d["summary"]
    assert d["summary"]["provider"] == "cpu"
    for leaf in d["leaves"]:
        for key in ("name", "op_type", "transitions", "effective_dim", "rank", "inactive_fraction", "dead_units"):
            assert key in leaf
    header = render_probe(r, "csv").splitlines()[0].split(",")
    assert header[:2] == ["name", "op_type"] and "transitions" in header


def test_cli_probe_writes_json(tmp_path):
    path = tmp_path / "cnn.onnx"
    onnx.save(cnn(), path)
    parser = argparse.ArgumentParser()
    probe_cli.add_parser(parser.add_subparsers(dest="command"))
    out = tmp_path / "probe.json"
    args = parser.parse_args(["probe", str(path), "--lines", "1", "--points", "16", "--directions", "4",
                              "--provider", "cpu", "--format", "json", "-o", str(out)])
    assert probe_cli.run(args) == 0
    data = json.loads(out.read_text())
    assert data["summary"]["lines"] == 1 and data["summary"]["points"] == 16
    assert math.isfinite(data["summary"]["regions_per_line"])
    args = parser.parse_args(["probe", "--zoo", "mlp", "--lines", "1", "--points", "8", "--directions", "0",
                              "--format", "csv", "-o", str(tmp_path / "mlp.csv")])
    assert probe_cli.run(args) == 0
    assert (tmp_path / "mlp.csv").read_text().startswith("name,op_type")
    with pytest.raises(Exception, match="exactly one"):
        probe_cli.run(parser.parse_args(["probe"]))
