"""The `ops` listing: one line per registry rule in table, CSV and markdown."""
from __future__ import annotations

import csv
import io

from onnxlayer import ops as _rules  # noqa: F401  (registers every rule: `import onnxlayer` loads lazily)
from onnxlayer.present.registry import FORMATS, render
from onnxlayer.registry import REGISTRY


def test_csv_rows_are_the_rules():
    entries = REGISTRY.entries()
    rows = list(csv.DictReader(io.StringIO(render(entries, "csv"))))
    assert len(rows) == len(entries)
    relu = next(r for r in rows if r["op_type"] == "Relu")
    assert (relu["domain"], relu["kind"], relu["exact"]) == ("ai.onnx", "pwl", "True")


def test_table_ends_with_the_count_and_aligns_columns():
    entries = REGISTRY.entries()
    lines = render(entries).splitlines()
    assert lines[-1] == f"{len(entries)} rules" and lines[-2] == ""
    assert lines[0].split() == ["op", "domain", "since", "kind", "exact", "approximation"]
    starts = {line.index(" ai.onnx ") for line in lines[1:-2] if " ai.onnx " in line}
    assert len(starts) == 1  # the domain column starts at one place


def test_table_columns_fit_their_widest_cell():
    """Every cell starts where its column's header does, the longest domain
    (ai.onnx.preview.training) included: no row pushes the columns after it."""
    lines = render(REGISTRY.entries()).splitlines()[:-2]
    header = lines[0]
    starts = [header.index(name) for name in ("domain", "kind", "exact", "approximation")]
    training = [line for line in lines if " ai.onnx.preview.training " in line]
    assert training
    for line in lines[1:]:
        assert all(line[s - 1] == " " and line[s] != " " for s in starts), line
        assert line == line.rstrip()
    assert all(line[starts[0]:].startswith("ai.onnx.preview.training ") for line in training)


def test_markdown_table():
    lines = render(REGISTRY.entries(), "markdown").splitlines()
    assert lines[:2] == ["| op | domain | since | kind | exact | approximation |", "|---|---|--:|---|---|---|"]
    assert all(line.startswith("| ") and line.endswith(" |") for line in lines[2:])
    assert FORMATS == ("table", "csv", "markdown")
