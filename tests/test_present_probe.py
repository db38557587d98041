"""A probe result as a table, CSV and JSON, from a record built here."""
from __future__ import annotations

import csv
import io
import json
import math

import pytest

from onnxlayer.present.probe import CSV_FIELDS, FORMATS, render
from onnxlayer.probe.result import GroupStats, ProbeLeaf, ProbeResult, ProbeSummary

SUMMARY = ProbeSummary(
    lines=2, points=16, span=28.0, origin="gaussian", input_scale=1.0, seed=0, provider="cpu", input_dim=4,
    regions_per_line=3.5, regions_max=4, region_bits_max=2.0, region_bound_bits=math.log2(163) * 2,
    transitions=5, transitions_per_unit_length=5 / 112, resolution=2.8e-05, resolution_relative=1e-06,
    refine_budget=64, evaluations=40, unresolved_intervals=1, exact=False, directions=4, rank_points=1,
    rank_tolerance=1e-3, rank_step=1e-3, rank_inexact_columns=0, batch_size=32, random_weights=None,
    weights_drawn=0, samples=32, samples_source="lines", unprobed_leaves=0, seconds=1.5,
)


def leaf(name, op, units, **kw):
    base = dict(kind="pwl" if units else "linear", exact=True, complexity_bits=float(units), d_in=4, effective_dim=4,
                rank_cap=8, reaches_output=True, probed=bool(units), transitions=None, transitions_estimated=None,
                transitions_per_unit_length=None, local_regions=None, local_region_bits=None, rank=None, rank_min=None,
                inactive_fraction=None, dead_units=None, frozen_units=None)
    base.update(kw)
    return ProbeLeaf(name=name, op_type=op, units=units, **base)


RESULT = ProbeResult(
    model="zoo:mlp",
    summary=SUMMARY,
    leaves=(
        leaf("/fc0/Gemm", "Gemm", 0, rank=4, rank_min=4),
        leaf("/act0/Relu", "Relu", 8, transitions=3, transitions_estimated=1, local_regions=3, local_region_bits=1.585,
             rank=4, rank_min=3, inactive_fraction=0.5, dead_units=2, frozen_units=1,
             groups=(GroupStats("Relu", 8, 2, (0.5, 0.5), 0.5, 2, 1),)),
        leaf("/fc1/Gemm", "Gemm", 0),  # no units, no rank: not a table row
    ),
    warnings=("one warning",),
    tool_version="0.1.0",
)


def test_table():
    lines = render(RESULT).splitlines()
    assert lines[0] == "probe: zoo:mlp"
    assert lines[1] == "  2 lines × 16 points, t ∈ [−28, 28] (gaussian origin, σ = 1), seed 0, provider cpu, batch 32"
    assert lines[4] == "  transitions: 5 (0.04464 per unit length)  [not exact: see leaves]"
    assert lines[7] == "  1.5 s"
    header = lines[9]
    assert header.split() == ["leaf", "op", "units", "c", "bits", "trans", "local", "lbits", "d", "rank", "inactive", "dead"]
    rows = lines[10:12]
    assert rows[0].split() == ["/fc0/Gemm", "Gemm", "4", "4"]  # a linear leaf: only d and rank
    assert rows[1].split() == ["/act0/Relu", "Relu", "8", "8.00", "3~", "3", "1.58", "4", "4", "0.500", "2"]
    assert lines[12] == "" and lines[-1] == "warning: one warning"
    # columns line up: every row as wide as the header (cells padded, trailing blanks kept)
    assert len(rows[0]) == len(rows[1]) == len(header)


def test_csv_has_a_column_per_field_and_blanks_for_none():
    rows = list(csv.DictReader(io.StringIO(render(RESULT, "csv"))))
    assert tuple(rows[0]) == CSV_FIELDS and len(rows) == 3
    assert rows[0]["transitions"] == "" and rows[1]["transitions"] == "3" and rows[1]["inactive_fraction"] == "0.5"


def test_json_is_the_record_with_infinities_as_null():
    data = json.loads(render(RESULT, "json"))
    assert data == RESULT.to_dict()
    assert data["leaves"][1]["groups"][0]["piece_fractions"] == [0.5, 0.5]
    odd = ProbeResult("m", SUMMARY.__class__(**{**SUMMARY.__dict__, "transitions_per_unit_length": math.inf}), ())
    assert json.loads(render(odd, "json"))["summary"]["transitions_per_unit_length"] is None


def test_formats():
    assert FORMATS == ("table", "json", "csv")
    with pytest.raises(ValueError, match="markdown"):
        render(RESULT, "markdown")
