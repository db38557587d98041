"""Domain exceptions. The CLI turns each into one line on stderr and exit code 2."""
from __future__ import annotations


#: Control characters and line separators shown as escapes, so a message is always one line.
_CONTROL_ESCAPES = {c: repr(chr(c))[1:-1] for c in (*range(32), 127, 0x85, 0x2028, 0x2029)}


class OnnxLayerError(Exception):
    """Base of every error onnxlayer raises on purpose (bad input, bad settings)."""

    def __str__(self) -> str:
        # op types and names from a corrupt model can hold newlines; the CLI promises one line
        return super().__str__().translate(_CONTROL_ESCAPES)


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
