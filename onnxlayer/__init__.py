"""onnxlayer: layer complexity and intrinsic power of ONNX models.

`onnxlayer.analyze`, `onnxlayer.compare`, `onnxlayer.layer_expression` and `onnxlayer.probe` are
the functions of `onnxlayer.api`; `onnxlayer.check` is the deployment gate's (`onnxlayer.gate`) and
`onnxlayer.audit` the audit package's function. They load on first use, so `import onnxlayer`
costs little (no onnx, numpy or framework). `probe` and `audit` stay the functions when their
subpackages load (`from onnxlayer.probe import engine` and `from onnxlayer.audit import run`
still reach the subpackages).
"""
import sys
import types
from importlib import import_module
from typing import Any

from .budget import Budget
from .errors import BudgetError, GraphError, ModelLoadError, OnnxLayerError, OpaqueLeafError, SettingsError, ShapeError
from .result import AnalysisResult, LeafResult, Summary
from .version import __version__

#: The functions loaded on first use, by the module that defines them.
_FUNCTIONS = {"analyze": "api", "compare": "api", "layer_expression": "api", "probe": "api", "audit": "audit", "check": "gate"}

__all__ = [
    "__version__",
    "analyze",
    "compare",
    "audit",
    "check",
    "layer_expression",
    "probe",
    "AnalysisResult",
    "LeafResult",
    "Summary",
    "Budget",
    "OnnxLayerError",
    "ModelLoadError",
    "GraphError",
    "ShapeError",
    "SettingsError",
    "OpaqueLeafError",
    "BudgetError",
]


def __getattr__(name: str) -> Any:
    module = _FUNCTIONS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    function = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = function
    return function


class _Package(types.ModuleType):
    """The package, whose function names are never rebound to the subpackages of the same
    name (`probe`, `audit`) that the import system binds on the parent when they load."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _FUNCTIONS and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
