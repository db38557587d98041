"""onnxlayer: layer complexity and intrinsic power of ONNX models."""
__version__ = "0.1.0"
