"""An analysis as a table, CSV, markdown and JSON, with and without grouping by scope (SPEC §5 example 2)."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

import builders
import onnxlayer
from onnxlayer.present.analysis import FORMATS, group_by_scope, render, top_leaves
from onnxlayer.present.tables import display_width

#: The summary's keys, in order.
KEYS = ("model", "producer / opset", "settings", "leaves", "complexity C", "intrinsic power P", "mean intrinsic power P̄",
        "input dim D0 / output dim", "nonlinear depth L", "units U", "params W", "MACs", "bottleneck", "VC bound")


@pytest.fixture(scope="module")
def cnn():
    """Conv → Relu (c(256, 2, 64) = 204.141 bits) → MaxPool 2×2 (c(64, 4, 64) = 128 bits) → Flatten → Gemm."""
    return onnxlayer.analyze(builders.cnn(), path="cnn.onnx")


def test_table_summary_and_top_leaves(cnn):
    lines = render(cnn).splitlines()
    assert lines[0].split(None, 1) == ["model", "cnn.onnx"]
    summary = {line[:25].strip(): line[27:] for line in lines[:14]}  # the longest key is 25 characters wide
    assert summary["complexity C"] == f"332.1411 bits (log10 regions {332.141078 * math.log10(2):.4f})"
    assert summary["input dim D0 / output dim"] == "64 / 10" and summary["MACs"] == f"{64 * 9 * 4 + 64 * 10:,}"
    top = lines.index("top 2 leaves by complexity:")
    assert lines[top + 1].split() == ["leaf", "op", "kind", "d_in", "d_out", "units×pieces", "C", "bits", "P"]
    assert lines[top + 3].split() == ["/relu/Relu", "Relu", "pwl", "64", "64", "256×2", "204.14", "0.000"]
    assert lines[top + 4].split() == ["/pool/MaxPool", "MaxPool", "pwl", "64", "64", "64×4", "128.00", "0.000"]
    assert [l.name for l in top_leaves(cnn, 1)] == ["/relu/Relu"]



def test_table_summary_values_start_in_one_terminal_column(cnn):
    """The key "mean intrinsic power P̄" is 23 code points but 22 columns (the bar is a combining
    mark): its value starts where the others do, 2 columns after the widest key (25)."""
    lines = render(cnn).splitlines()[:14]
    starts = {display_width(line[:len(line) - len(line[len(key):].lstrip())]) for line, key in zip(lines, KEYS)}
    assert starts == {27}
    assert lines[6].startswith("mean intrinsic power P̄" + " " * 5)

def test_csv_one_row_per_leaf(cnn):
    rows = list(csv.DictReader(io.StringIO(render(cnn, "csv"))))
    assert [r["op_type"] for r in rows] == ["Conv", "Relu", "MaxPool", "Flatten", "Gemm"]
    assert rows[1]["units"] == "256" and rows[1]["pieces"] == "2" and rows[0]["pieces"] == ""
    assert float(rows[2]["complexity_bits"]) == 128.0 and rows[-1]["d_out"] == "10"


def test_markdown(cnn):
    md = render(cnn, "markdown", top=1)
    assert md.startswith("| metric | value |\n|---|---|\n| model | cnn.onnx |")
    assert "| /relu/Relu | Relu | pwl | 64 | 64 | 204.14 | 0.000 |" in md and "/pool/MaxPool" not in md


def test_json_is_the_record_plus_groups():
    result = onnxlayer.analyze(builders.mlp())
    assert json.loads(render(result, "json")) == json.loads(result.to_json())
    data = json.loads(render(result, "json", group_by=1))
    groups = {g["scope"]: g for g in data["groups"]}
    assert list(groups) == ["fc0", "act0", "fc1", "act1", "fc2"]
    assert groups["fc0"]["params"] == 4 * 8 + 8 and groups["act0"]["units"] == 8  # SPEC §5 example 1
    assert groups["act1"]["complexity_bits"] == pytest.approx(7.348728, abs=1e-6)


def test_grouping_sums_leaves_under_a_scope_prefix():
    result = onnxlayer.analyze(builders.mlp())
    everything = group_by_scope(result, 0)
    assert [a.scope for a in everything] == ["(root)"] and everything[0].leaves == 5
    assert everything[0].macs == 4 * 8 + 8 * 8 + 8 * 3 and everything[0].params == 40 + 72 + 27
    table = render(result, group_by=None).splitlines()
    assert "by scope:" in table and any(line.startswith("act1 ") for line in table)
    assert FORMATS == ("table", "json", "csv", "markdown")
