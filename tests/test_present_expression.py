"""The expression as text: one line per block, long formulas expanded, repeats on one line."""
from __future__ import annotations

import json

import pytest

import builders
from onnxlayer.api import layer_expression
from onnxlayer.models_access import zoo_model
from onnxlayer.present.expression import FORMULA_WIDTH, render


@pytest.fixture(scope="module")
def residual():
    return layer_expression(builders.residual(skip=True), path="res")


def test_one_line_per_block(residual):
    # SPEC §5 example 3: C = 4 (branch ReLUs on d = 4) + 16 (final ReLU on d = 16), P = 0, D0 = 16
    lines = render(residual).splitlines()
    assert lines[0] == "res: C = 20 bits, P = 0.000, D0 = 16, 5 leaves (tolerance ε = 0.01, domain B = 8)"
    assert lines[4:] == [
        "C bits      P  d_in → d_out  block",
        "    20  0.000  16 → 16       res",
        "     4  0.000  16 → 16         ∘ (id ⊕ Gemm∘Relu∘Gemm)→Add",
        "    16  0.000  16 → 16         ∘ relu2  Relu",
    ]


def test_narrow_width_expands_the_parallel_block(residual):
    """The branch alone maps d 16 → 4: P = log2(4/16) = −2."""
    lines = render(residual, width=20).splitlines()
    assert lines[6:8] == [
        "     4   0.000  16 → 16         ∘ (id ⊕ …)→Add",
        "     4  -2.000  16 → 4            ⊕ Gemm∘Relu∘Gemm",
    ]


def test_json_is_the_record(residual):
    assert json.loads(render(residual, "json")) == residual.to_dict()
    assert FORMULA_WIDTH == 72


def test_resnet50_is_short_and_named():
    text = render(layer_expression(zoo_model("resnet50"), path="zoo:resnet50"))
    lines = text.splitlines()
    assert len(lines) <= 40
    assert any("layer1.0" in line and "→Add" in line for line in lines)
    # torchvision's 3, 4, 6, 3 bottlenecks per stage: the first of each stage differs (downsampling)
    for count, first, last in [(2, "layer1.1", "layer1.2"), (3, "layer2.1", "layer2.3"), (5, "layer3.1", "layer3.5")]:
        assert any(f"{count}× {first} … {last}" in line for line in lines), text
