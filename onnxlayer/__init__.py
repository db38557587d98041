"""onnxlayer: layer complexity and intrinsic power of ONNX models.

`onnxlayer.analyze`, `onnxlayer.compare`, `onnxlayer.layer_expression` and `onnxlayer.probe`
are the functions of `onnxlayer.api`; `onnxlayer.check` is the deployment gate's (`onnxlayer.gate`). The probe's machinery is the subpackage of the same
name; `api` imports it before the function takes the name here, so `onnxlayer.probe` stays the
function and `from onnxlayer.probe import engine` still reaches the subpackage.
"""
from .api import analyze, compare, layer_expression, probe
from .gate import check
from .budget import Budget
from .errors import BudgetError, GraphError, ModelLoadError, OnnxLayerError, OpaqueLeafError, SettingsError, ShapeError
from .result import AnalysisResult, LeafResult, Summary
from .version import __version__

__all__ = [
    "__version__",
    "analyze",
    "compare",
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
