"""onnxlayer: layer complexity and intrinsic power of ONNX models.

`onnxlayer.analyze`, `onnxlayer.compare`, `onnxlayer.layer_expression` and `onnxlayer.probe` are
the functions of `onnxlayer.api`; `onnxlayer.check` is the deployment gate's (`onnxlayer.gate`) and
`onnxlayer.audit` the audit package's function. Each of `probe` and `audit` shadows its subpackage's
name here once the subpackage is imported, so `from onnxlayer.probe import engine` and
`from onnxlayer.audit import run` still reach the subpackages.
"""
from .api import analyze, compare, layer_expression, probe
from .audit import audit
from .gate import check
from .budget import Budget
from .errors import BudgetError, GraphError, ModelLoadError, OnnxLayerError, OpaqueLeafError, SettingsError, ShapeError
from .result import AnalysisResult, LeafResult, Summary
from .version import __version__

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
