"""The package's Python entry points."""
from __future__ import annotations

import importlib
import subprocess
import sys

import onnxlayer
from builders import mlp


def test_compare_and_probe_are_callable_and_modules():
    rows = onnxlayer.compare([("a", mlp()), ("b", mlp(activation="Tanh"))]).rows
    assert [r.model for r in rows] == ["a", "b"]
    engine = importlib.import_module("onnxlayer.probe.engine")  # the subpackage is still a package
    assert callable(onnxlayer.probe) and onnxlayer.probe.engine is engine


def test_static_analysis_imports_no_runtime():
    code = "import sys, onnxlayer; onnxlayer.analyze(onnxlayer.models.build('mlp', weights=False)); " \
           "print(any(m in sys.modules for m in ('onnxruntime', 'torch', 'tensorflow')))"
    out = subprocess.run([sys.executable, "-c", "import onnxlayer.models; " + code], capture_output=True, text=True)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr
