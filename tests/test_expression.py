"""The expression record: its terms, formulas and JSON tree (schema 1)."""
from __future__ import annotations

import json

import pytest

import builders
from onnxlayer.api import layer_expression


@pytest.fixture(scope="module")
def residual():
    """SPEC §5 example 3: (id ⊕ Gemm∘Relu∘Gemm)→Add∘Relu, C = 4 + 16 bits, d = 4 in the branch."""
    return layer_expression(builders.residual(skip=True), path="res")


def test_formula_and_its_width(residual):
    assert residual.formula() == "(id ⊕ Gemm∘Relu∘Gemm)→Add∘Relu"
    assert residual.formula(width=10) == "(id ⊕ Gem…"
    par = residual.root.children[0]
    assert residual.formula(par.merge) == "Add"


def test_terms_cover_every_leaf_once(residual):
    leaves = [k for t in residual.terms() if t.kind == "leaf" for k in t.leaves]
    assert sorted(leaves) == list(range(len(residual.walked))) == list(range(5))


def test_json_tree(residual):
    data = json.loads(residual.to_json())
    assert data["schema_version"] == 1 and data["model"]["path"] == "res"
    assert data["settings"] == {"tolerance": 0.01, "domain": 8.0}
    assert data["summary"]["input_dim"] == 16 and data["summary"]["intrinsic_power"] == 0.0
    tree = data["tree"]
    assert tree["kind"] == "series" and tree["name"] == "res" and tree["leaf_count"] == 5
    assert tree["complexity_bits"] == pytest.approx(20.0)
    par, relu = tree["parts"]
    assert par["kind"] == "parallel" and par["merge"]["op_type"] == "Add"
    assert par["d_out"] == 16 and isinstance(par["d_out"], int)
    identity, branch = sorted(par["branches"], key=lambda b: b["leaf_count"])
    assert identity["formula"] == "id" and identity["leaf_count"] == 0
    assert [p["d_out"] for p in branch["parts"]] == [4, 4, 4]  # Gemm 16→4, Relu, Gemm 4→16: d stays 4
    assert branch["parts"][1]["complexity_bits"] == pytest.approx(4.0)  # 4 ReLU units on d = 4: 4 bits
    assert relu["op_type"] == "Relu" and relu["complexity_bits"] == pytest.approx(16.0)
