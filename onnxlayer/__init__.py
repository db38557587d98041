"""onnxlayer: layer complexity and intrinsic power of ONNX models."""
__version__ = "0.1.0"

from .analysis import analyze  # noqa: E402
from .errors import GraphError, ModelLoadError, OnnxLayerError, OpaqueLeafError, SettingsError, ShapeError  # noqa: E402
from .result import AnalysisResult, LeafResult, Summary  # noqa: E402
from . import compare, probe  # noqa: E402,F401  (callable modules: onnxlayer.compare([...]), onnxlayer.probe(...))

__all__ = [
    "analyze",
    "compare",
    "probe",
    "AnalysisResult",
    "LeafResult",
    "Summary",
    "OnnxLayerError",
    "ModelLoadError",
    "GraphError",
    "ShapeError",
    "SettingsError",
    "OpaqueLeafError",
]
