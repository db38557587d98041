"""The public Python API (`onnxlayer.api`, re-exported by the package)."""
from __future__ import annotations

import importlib
import math
import subprocess
import sys

import onnx
import pytest

import onnxlayer
from builders import cnn, mlp, residual
from onnxlayer import api

RELU_163 = math.log2(163)  # SPEC §5 example 1: c(8 units, 2 pieces, d = 4) = log2 Σ_{j≤4} C(8, j)


def test_package_names_are_the_api_functions():
    assert (onnxlayer.analyze, onnxlayer.compare, onnxlayer.probe, onnxlayer.layer_expression) == (
        api.analyze, api.compare, api.probe, api.layer_expression)


def test_probe_is_a_function_beside_its_subpackage():
    """`onnxlayer.probe` stays the function after the probe's modules are imported by name."""
    engine = importlib.import_module("onnxlayer.probe.engine")
    from onnxlayer.probe import engine as same

    assert engine is same and callable(onnxlayer.probe) and not isinstance(onnxlayer.probe, type(engine))
    assert onnxlayer.probe is api.probe


def test_analyze_accepts_path_bytes_and_proto(tmp_path):
    proto = mlp()
    path = tmp_path / "mlp.onnx"
    onnx.save(proto, path)
    for source in (proto, proto.SerializeToString(), path, str(path)):
        assert onnxlayer.analyze(source).summary.complexity_bits == pytest.approx(2 * RELU_163, rel=1e-12)
    assert onnxlayer.analyze(path).model.path == str(path)
    assert onnxlayer.analyze(proto, path="label").model.path == "label"


def test_onnx_sources_pass_through_unconverted(tmp_path):
    proto = mlp()
    assert api.to_onnx_source(proto) == (proto, None)
    data = proto.SerializeToString()
    assert api.to_onnx_source(data) == (data, None)
    onnx_file = tmp_path / "m.onnx"
    assert api.to_onnx_source(str(onnx_file)) == (str(onnx_file), None)  # .onnx: read as ONNX, even if missing
    renamed = tmp_path / "m.bin"
    onnx.save(proto, renamed)
    assert api.to_onnx_source(renamed) == (renamed, None)  # recognised by content


def test_compare_rows_follow_the_order_given():
    rows = onnxlayer.compare([("a", mlp()), ("b", mlp(activation="Tanh")), ("c", cnn())]).rows
    assert [r.model for r in rows] == ["a", "b", "c"]
    assert rows[0].summary.complexity_bits == pytest.approx(2 * RELU_163, rel=1e-12)
    assert rows[2].summary.complexity_bits == pytest.approx(332.141078, abs=1e-6)  # SPEC §5 example 2


def test_layer_expression_root_is_the_whole_network():
    expr = onnxlayer.layer_expression(residual(skip=True), path="res")
    assert expr.root.name == "res"
    assert expr.root.value.complexity == pytest.approx(20.0, abs=1e-12)  # SPEC §5 example 3: 4 + 16
    assert (expr.root.value.d_in, expr.root.value.d_out) == (16, 16)


def test_static_analysis_imports_no_runtime():
    code = "import sys, onnxlayer; onnxlayer.analyze(onnxlayer.models.build('mlp', weights=False)); " \
           "print(any(m in sys.modules for m in ('onnxruntime', 'torch', 'tensorflow')))"
    out = subprocess.run([sys.executable, "-c", "import onnxlayer.models; " + code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
