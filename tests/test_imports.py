"""Start fast: each entry point imports what its work needs and nothing else.

Every check runs in a fresh interpreter (`python -c`) and reads `sys.modules` after the work:
`import onnxlayer` and `onnxlayer --version` load neither onnx nor numpy; analysing (CLI or API)
loads no runtime, framework, plotting, graph library, audit or report machinery.
"""
from __future__ import annotations

import json
import subprocess
import sys

import onnx
import pytest
from onnx import helper

#: Never imported by analysis: runtimes, frameworks and converters, plotting, graph and data
#: libraries, the audit and MLflow/Dask machinery, and the parts of onnxlayer built on the result.
HEAVY = ("onnxruntime", "torch", "tensorflow", "tf2onnx", "keras", "jax", "transformers", "timm", "mlflow", "dask",
         "distributed", "networkx", "matplotlib", "pandas", "scipy", "tqdm", "sqlite3", "onnx_tool",
         "onnxlayer.probe", "onnxlayer.audit", "onnxlayer.converters", "onnxlayer.gate", "onnxlayer.policy",
         "onnxlayer.diff", "onnxlayer.study", "onnxlayer.present.html", "onnxlayer.present.svg")


def loaded_after(code: str) -> set[str]:
    """The modules a fresh interpreter holds after running `code` (which must not print)."""
    probe = f"{code}\nimport sys, json\nprint(json.dumps(sorted(sys.modules)))"
    run = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    return set(json.loads(run.stdout.strip().splitlines()[-1]))


def heavy(modules: set[str], names=HEAVY) -> list[str]:
    return sorted(m for m in modules if any(m == n or m.startswith(n + ".") for n in names))


@pytest.fixture(scope="module")
def model_path(tmp_path_factory) -> str:
    """A small model with smooth and piecewise-linear leaves (the fitting path runs too)."""
    graph = helper.make_graph(
        [helper.make_node("Gemm", ["x", "w"], ["h"]), helper.make_node("Tanh", ["h"], ["t"]),
         helper.make_node("Relu", ["t"], ["y"])], "small",
        [helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, ["N", 4])],
        [helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, ["N", 3])],
        [helper.make_tensor("w", onnx.TensorProto.FLOAT, [4, 3], [0.5] * 12)])
    path = tmp_path_factory.mktemp("imports") / "small.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), path)
    return str(path)


def test_import_onnxlayer_loads_neither_onnx_nor_numpy():
    modules = loaded_after("import onnxlayer")
    assert heavy(modules, HEAVY + ("onnx", "numpy", "onnxlayer.api", "onnxlayer.analysis")) == []


def test_version_loads_neither_onnx_nor_numpy():
    modules = loaded_after("from onnxlayer.cli import main\n"
                           "try:\n    main(['--version'])\nexcept SystemExit:\n    pass")
    assert heavy(modules, HEAVY + ("onnx", "numpy", "onnxlayer.cli.analyze")) == []


def test_cli_analyze_loads_what_analysis_needs(model_path):
    modules = loaded_after("import contextlib, io\nfrom onnxlayer.cli import main\n"
                           f"with contextlib.redirect_stdout(io.StringIO()):\n"
                           f"    assert main(['analyze', {model_path!r}, '--format', 'json']) == 0")
    assert heavy(modules) == []
    assert {"onnx", "numpy", "onnxlayer.analysis", "onnxlayer.fusion"} <= modules  # the work did run


def test_api_analyze_loads_what_analysis_needs(model_path):
    modules = loaded_after(f"import onnxlayer\nassert onnxlayer.analyze({model_path!r}).summary.input_dim == 4")
    assert heavy(modules) == []


def test_cli_ops_loads_the_registry_only():
    modules = loaded_after("import contextlib, io\nfrom onnxlayer.cli import main\n"
                           "with contextlib.redirect_stdout(io.StringIO()):\n    assert main(['ops']) == 0")
    assert heavy(modules, HEAVY + ("onnxlayer.analysis", "onnxlayer.api", "onnxlayer.fusion")) == []


def test_the_functions_stay_functions_whatever_loads_first():
    """`onnxlayer.probe` and `onnxlayer.audit` are the functions, even after their subpackages load."""
    code = ("import onnxlayer.probe.engine, onnxlayer.audit.result\nimport onnxlayer\nfrom onnxlayer import api, audit\n"
            "assert callable(onnxlayer.probe) and onnxlayer.probe is api.probe\n"
            "assert callable(onnxlayer.audit) and onnxlayer.audit is audit\n"
            "from onnxlayer.probe import engine\nfrom onnxlayer.audit import result\n"
            "assert engine.__name__ == 'onnxlayer.probe.engine' and result.__name__ == 'onnxlayer.audit.result'")
    loaded_after(code)
