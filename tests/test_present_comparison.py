"""A comparison as a table, CSV, markdown and JSON: a row per model, failures in the footer."""
from __future__ import annotations

import csv
import io
import json

import pytest

import builders
from onnxlayer.api import compare
from onnxlayer.comparison import COLUMNS
from onnxlayer.present.comparison import CELL_TEXT, FORMATS, render


@pytest.fixture(scope="module")
def cmp():
    return compare([("mlp", builders.mlp()), ("bad", b"not a model")])


def test_every_column_has_a_cell_format():
    assert set(CELL_TEXT) == {c.key for c in COLUMNS}


def test_table(cmp):
    lines = render(cmp).splitlines()
    assert lines[0].split()[:4] == ["model", "C", "bits", "log10"]
    mlp = lines[2].split()
    # SPEC §5 example 1: C = 14.697 bits, P = log2(3/4) = −0.415, P̄ = 0 (both ReLUs see d = D0), D0 = 4,
    # out 3, L = 2, U = 16
    assert mlp[:9] == ["mlp", "15", "4", "-0.415", "0.000", "4", "3", "2", "16"]
    assert lines[3].split()[0] == "bad" and set(lines[3].split()[1:]) == {"-"}
    assert lines[5] == "settings: tolerance ε = 0.01, domain B = 8; C in bits, P and P̄ in log2 units, D0 and dims per sample"
    assert lines[6].startswith("FAILED bad: ")


def test_markdown(cmp):
    lines = render(cmp, "markdown").splitlines()
    assert lines[0].startswith("| model | C bits |") and lines[1].startswith("|---|--:|")
    assert lines[3].startswith("| bad | failed (see below) | - |") and lines[-1].startswith("- FAILED bad: ")


def test_csv_and_json(cmp):
    rows = list(csv.DictReader(io.StringIO(render(cmp, "csv"))))
    assert rows[0]["model"] == "mlp" and int(rows[0]["input_dim"]) == 4 and int(rows[0]["params"]) == 139
    assert rows[1]["error"] and rows[1]["complexity_bits"] == ""
    data = json.loads(render(cmp, "json"))
    assert data == cmp.to_dict() and data["rows"][0]["macs"] == 4 * 8 + 8 * 8 + 8 * 3
    assert FORMATS == ("table", "csv", "json", "markdown")
