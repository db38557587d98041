"""Domain exceptions. The CLI turns each into one line on stderr and exit code 2."""
from __future__ import annotations


class OnnxLayerError(Exception):
    """Base of every error onnxlayer raises on purpose (bad input, bad settings)."""


class ModelLoadError(OnnxLayerError):
    """The bytes are not a usable ONNX model (missing, empty, corrupt, not a model)."""


class GraphError(OnnxLayerError):
    """The graph is malformed: dangling tensor names, cycles, duplicate producers."""


class ShapeError(OnnxLayerError):
    """A data tensor has a dimension that is unknown, symbolic or absurd."""


class SettingsError(OnnxLayerError):
    """A user setting (tolerance, domain, input shape, ...) is invalid."""


class OpaqueLeafError(OnnxLayerError):
    """Raised in strict mode when some leaves have no registry rule."""
